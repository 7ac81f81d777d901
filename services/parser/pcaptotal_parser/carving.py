"""Files carved by tshark's ``--export-objects`` in the same pass, hashed and tied to flows.

tshark writes every exported object into one directory per protocol when the pass ends, naming
it after the request URI's last segment (HTTP), the mail subject + ``.eml`` (IMF) or the
transferred file (FTP-DATA, SMB, TFTP). Its name massaging replaces ``/``, ``\\``, ``:``,
``?`` and other reserved or control characters with ``%xx`` and appends ``(n)`` before the
extension for a repeated name, so a written file can never lie outside its directory; we still
open only regular files found by ``scandir`` without following links, and never use a name from
the capture as a path. Content is only read and hashed, never executed.

Which flow a file came from: tshark does not say, so the parser records, per flow, the names
tshark would give the objects of that flow (``object_names``) while reading the rows. A file
whose name (without the ``(n)`` suffix) was seen on exactly one flow belongs to it; when a name
was seen on several flows (``/`` on many HTTP connections), the flow whose HTTP messages had
exactly the file's size as body is it if there is one such flow, else the file is attached to
every flow that could have sent it (never to a wrong protocol or host). A file with no candidate
goes to the single flow of its protocol if there is one, else to none (a warning). Nothing here
depends on the (n) numbering, so a split parse attributes files as a single pass does.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from pcaptotal_parser.columns import Row

# tshark --export-objects protocol → the dissector names that carry it in frame.protocols
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "http": ("http",),
    "imf": ("imf",),
    "ftp-data": ("ftp-data",),
    "smb": ("smb", "smb2"),
    "tftp": ("tftp",),
}
_RESERVED = set('<>:"/\\|?*') | {chr(c) for c in range(1, 32)} | {"\x7f"}
_UNNAMED = re.compile(r"object(?P<frame>\d+)")  # tshark's name for an object without one
_COPY = re.compile(r"\((?P<n>\d+)\)$")  # tshark's copy number, before the name's last "."
MAX_NAME = 255
READ_CHUNK = 1 << 20


@dataclass(slots=True)
class CarvedFile:
    protocol: str  # tshark's export-objects protocol
    path: Path  # inside the private export directory
    written_name: str  # tshark's (massaged, de-duplicated) name
    base_name: str  # without the (n) suffix: what object_names hold
    name: str  # for people: the percent-escapes undone
    size: int
    md5: str
    sha1: str
    sha256: str
    mime_type: str


def massage(name: str) -> str:
    """tshark's file-name massaging (epan export_object: eo_massage_str) without the suffix."""
    out = "".join(f"%{ord(ch):02x}" if ch in _RESERVED else ch for ch in name)
    return out[:MAX_NAME]


def path_basename(path: str) -> str:
    """GLib's ``g_path_get_basename`` (tshark names HTTP objects with it)."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def object_names(row: Row) -> list[tuple[str, str]]:
    """(export protocol, massaged name) of objects this packet may make tshark export."""
    out: list[tuple[str, str]] = []
    for uri in row.values("http.request.uri"):
        out.append(("http", massage(path_basename(uri))))
    for subject in row.values("imf.subject"):
        out.append(("imf", massage(f"{subject}.eml")))
    for command in row.values("ftp-data.command"):
        _verb, _, arg = command.partition(" ")
        if arg:
            out.append(("ftp-data", massage(path_basename(arg))))
    return out


def split_written_name(written: str) -> str:
    """``a(1).crl`` → ``a.crl``: the name before tshark de-duplicated it."""
    return copy_order(written)[0]


def _mime(head: bytes) -> str:
    import magic  # libmagic (Debian libmagic1): the MIME type from the content, never the name

    try:
        return str(magic.from_buffer(head, mime=True))
    except Exception:  # libmagic refuses some inputs; the type is then unknown
        return "application/octet-stream"


def hash_file(
    protocol: str,
    path: Path,
    written: str,
    mimes: dict[str, str] | None = None,
    dir_fd: int | None = None,
) -> CarvedFile:
    """Hashes, size and content type of a carved file; ``mimes`` (by SHA-256) spares libmagic
    a content it has typed already (a capture often carries one file many times). With
    ``dir_fd`` (its directory, open) the file is opened as ``written`` relative to it."""
    md5, sha1, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha1(), hashlib.sha256()
    size = 0
    head = b""
    # the directory belongs to the sandbox user: never follow a link it may have swapped in
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags) if dir_fd is None else os.open(written, flags, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file: {path.name}")
        while chunk := fh.read(READ_CHUNK):
            if not head:
                head = chunk[:65536]
            md5.update(chunk)
            sha1.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    base = split_written_name(written)
    digest = sha256.hexdigest()
    if not size:
        mime = "application/x-empty"
    elif mimes is not None and digest in mimes:
        mime = mimes[digest]
    else:
        mime = _mime(head)
        if mimes is not None:
            mimes[digest] = mime
    return CarvedFile(
        protocol=protocol,
        path=path,
        written_name=written,
        base_name=base,
        name=unquote(base),
        size=size,
        md5=md5.hexdigest(),
        sha1=sha1.hexdigest(),
        sha256=digest,
        mime_type=mime,
    )


def export_arguments(objects_dir: Path) -> list[str]:
    args: list[str] = []
    for protocol in PROTOCOLS:
        args += ["--export-objects", f"{protocol},{objects_dir / protocol}"]
    return args


def collect(objects_dir: Path) -> list[CarvedFile]:
    """Hash every regular file tshark wrote (blocking: run it in a thread)."""
    root = objects_dir.resolve()
    files: list[CarvedFile] = []
    mimes: dict[str, str] = {}
    for protocol in PROTOCOLS:
        directory = root / protocol
        if not directory.is_dir():
            continue
        # the directory belongs to the sandbox user: open it once without following a link
        # it may have swapped in, and its files relative to it (never leaving it)
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            with os.scandir(dir_fd) as entries:
                written = sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
            for name in written:
                try:
                    files.append(hash_file(protocol, directory / name, name, mimes, dir_fd))
                except OSError:  # swapped for a link or a FIFO after the listing
                    continue
        finally:
            os.close(dir_fd)
    return files


def renumber_unnamed(
    files: list[CarvedFile], frames: Sequence[int], named: Set[tuple[str, str]]
) -> None:
    """Give the objects of one part of a split capture the names one pass gives them.

    tshark names an object that has no file name ``object<frame number>``, and in a part the
    number is the part's. ``frames``: the part's original frame numbers; ``named``: the
    (protocol, name) pairs that came from the capture (URIs, subjects), which are left alone.
    """
    for file in files:
        match = _UNNAMED.fullmatch(file.base_name)
        if match is None or (file.protocol, file.base_name) in named:
            continue
        frame = int(match["frame"])
        if 0 < frame <= len(frames):
            file.base_name = file.name = f"object{frames[frame - 1]}"


def copy_order(written: str) -> tuple[str, int]:
    """``a.tar(2).gz`` → ``("a.tar.gz", 2)``: the inverse of tshark's
    ``eo_massage_str``, which puts the copy number before the name's last ``.`` (or at its end);
    tshark writes a name's copies in that order."""
    dot = written.rfind(".")
    head, ext = (written[:dot], written[dot:]) if dot >= 0 else (written, "")
    match = _COPY.search(head)
    if match is None:
        return written, 0
    return head[: match.start()] + ext, int(match["n"])
