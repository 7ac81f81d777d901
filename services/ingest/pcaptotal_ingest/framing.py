"""How the capture sits in the request body: the whole body, or the ``file`` part of a form.

Multipart bodies are parsed incrementally with python-multipart's streaming parser, so the
file part flows straight into the decoder: nothing is spooled or buffered whole.
"""

from __future__ import annotations

from typing import Protocol

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from pcaptotal_ingest.errors import MalformedUpload

FILE_FIELD = "file"


class Framing(Protocol):
    """Extracts capture bytes from request-body chunks."""

    @property
    def filename(self) -> str | None: ...
    def feed(self, chunk: bytes) -> bytes: ...
    def finish(self) -> None: ...


class RawFraming:
    """The body is the (possibly gzip-compressed) capture itself."""

    def __init__(self, filename: str | None = None) -> None:
        self._filename = filename

    @property
    def filename(self) -> str | None:
        return self._filename

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> None:
        return None


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or None for any other type."""
    media, params = parse_options_header(content_type)
    if media.lower() != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedUpload("multipart/form-data upload without a boundary parameter")
    return boundary


# Form fields read beside the file (e.g. visibility=private), each cut at TEXT_FIELD_MAX.
TEXT_FIELDS = frozenset({"visibility"})
TEXT_FIELD_MAX = 64


class MultipartFraming:
    """Yields the bytes of the form's ``file`` part. Of the other fields only the small ones
    named in ``TEXT_FIELDS`` are kept (``fields``); the rest are read and discarded."""

    def __init__(self, boundary: bytes, fallback_filename: str | None = None) -> None:
        self._filename = fallback_filename
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self._seen_file = False
        self._text_field: str | None = None
        self.fields: dict[str, str] = {}
        self._ended = False
        self._out: list[bytes] = []
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError as exc:
            raise MalformedUpload(f"malformed multipart upload: {exc}") from None

    @property
    def filename(self) -> str | None:
        return self._filename

    def feed(self, chunk: bytes) -> bytes:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise MalformedUpload(f"malformed multipart upload: {exc}") from None
        out, self._out = self._out, []
        return b"".join(out)

    def finish(self) -> None:
        if not self._ended:
            raise MalformedUpload(
                "malformed multipart upload: the body ends before its last boundary"
            )
        if not self._seen_file:
            raise MalformedUpload(
                f"multipart upload without a {FILE_FIELD!r} field: send the capture as "
                f"`-F {FILE_FIELD}=@capture.pcap`, or as the raw request body"
            )

    # -- parser callbacks (called synchronously from write) --

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name in TEXT_FIELDS:
            self._text_field = name
            self.fields[name] = ""
        if name != FILE_FIELD:
            return
        if self._seen_file:
            raise MalformedUpload(f"multipart upload with more than one {FILE_FIELD!r} part")
        self._in_file = self._seen_file = True
        filename = params.get(b"filename")
        if filename:
            # Browsers and curl send the name as raw UTF-8 inside the quotes.
            self._filename = filename.decode("utf-8", "replace")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._out.append(data[start:end])
        elif self._text_field is not None:
            value = self.fields[self._text_field] + data[start:end].decode("utf-8", "replace")
            self.fields[self._text_field] = value[:TEXT_FIELD_MAX]

    def _on_part_end(self) -> None:
        self._in_file = False
        self._text_field = None

    def _on_end(self) -> None:
        self._ended = True
