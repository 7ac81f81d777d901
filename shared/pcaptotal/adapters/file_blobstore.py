"""Local-directory blob store: the embedded default.

Writes go to a temp file in the same directory and are renamed into place, so a reader never
sees half a blob and a crash never leaves one. Metadata sits beside the blob as JSON.
Keys are validated so that no key can escape the root directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from pcaptotal.ports import BlobInfo, BlobNotFound

_META_SUFFIX = ".meta.json"


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        # mkstemp makes 0600 files; blobs get the umask-derived mode their metadata gets
        umask = os.umask(0o022)
        os.umask(umask)
        self._mode = 0o666 & ~umask

    async def start(self) -> None:
        await asyncio.to_thread(self._root.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or "\\" in key or key.endswith(_META_SUFFIX):
            raise ValueError(f"invalid blob key {key!r}")
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid blob key {key!r}")
        return self._root.joinpath(*parts)

    def _write_meta(self, path: Path, metadata: dict[str, str] | None) -> None:
        meta = path.with_name(path.name + _META_SUFFIX)
        if metadata:
            meta.write_text(json.dumps({k.lower(): v for k, v in metadata.items()}))
        elif meta.exists():
            meta.unlink()

    def _put_file_sync(self, key: str, src: Path, metadata: dict[str, str] | None) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.chmod(tmp, self._mode)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._write_meta(dest, metadata)

    def _put_bytes_sync(self, key: str, data: bytes, metadata: dict[str, str] | None) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, self._mode)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._write_meta(dest, metadata)

    async def put_file(
        self, key: str, path: Path, *, metadata: dict[str, str] | None = None
    ) -> None:
        await asyncio.to_thread(self._put_file_sync, key, path, metadata)

    async def put_bytes(
        self, key: str, data: bytes, *, metadata: dict[str, str] | None = None
    ) -> None:
        await asyncio.to_thread(self._put_bytes_sync, key, data, metadata)

    def _existing(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path

    async def get_to_file(self, key: str, path: Path) -> None:
        src = self._existing(key)
        await asyncio.to_thread(shutil.copyfile, src, path)

    async def get_bytes(self, key: str) -> bytes:
        src = self._existing(key)
        return await asyncio.to_thread(src.read_bytes)

    async def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        src = self._existing(key)
        fh = await asyncio.to_thread(src.open, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk
        finally:
            fh.close()

    def _stat_sync(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        meta = path.with_name(path.name + _META_SUFFIX)
        metadata = json.loads(meta.read_text()) if meta.is_file() else {}
        return BlobInfo(key=key, size=path.stat().st_size, metadata=metadata)

    async def stat(self, key: str) -> BlobInfo | None:
        return await asyncio.to_thread(self._stat_sync, key)

    def _delete_sync(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + _META_SUFFIX).unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete_sync, key)

    def _list_sync(self, prefix: str) -> list[str]:
        keys = []
        for p in self._root.rglob("*"):
            if not p.is_file() or p.name.endswith(_META_SUFFIX) or p.name.startswith(".tmp-"):
                continue
            key = p.relative_to(self._root).as_posix()
            if key.startswith(prefix):
                keys.append(key)
        return sorted(keys)

    async def list_keys(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._list_sync, prefix)
