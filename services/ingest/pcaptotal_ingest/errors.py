"""Why an upload was refused. Transport-free: the HTTP layer maps each kind to a status code."""

from __future__ import annotations


class UploadRejected(Exception):
    """An upload that will not be stored; ``str(exc)`` is a message for the person uploading."""


class EmptyUpload(UploadRejected):
    """No bytes at all (or a gzip stream holding none)."""


class NotACapture(UploadRejected):
    """The bytes are not a pcap or pcapng capture (after gzip decompression, if any)."""


class TruncatedCapture(UploadRejected):
    """A capture format was recognised but the file ends inside its header."""


class MalformedUpload(UploadRejected):
    """The envelope is broken: corrupt or truncated gzip, malformed multipart body."""


class UploadTooLarge(UploadRejected):
    """More (decompressed) capture bytes than the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"capture exceeds the upload limit of {limit} bytes (decompressed)")
        self.limit = limit
