"""S3 blob store (MinIO SDK): the production adapter; works with MinIO, SeaweedFS, AWS S3.

URL: ``s3://ACCESS_KEY:SECRET@host:port/bucket?secure=false&region=us-east-1``; credentials
may come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY instead. The SDK is synchronous, so
every call runs in a worker thread; large objects stream in parts, never whole in memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import urllib3
from minio import Minio
from minio.error import S3Error

from pcaptotal.ports import BlobInfo, BlobNotFound

_META_PREFIX = "x-amz-meta-"
_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}
TIMEOUT_S = 30.0


def parse_s3_url(url: str) -> dict[str, Any]:
    u = urlparse(url)
    if u.scheme != "s3" or not u.hostname or not u.path.strip("/"):
        raise ValueError(
            f"blob URL must look like s3://[key:secret@]host[:port]/bucket, got {url!r}"
        )
    opts = {k: v[-1] for k, v in parse_qs(u.query).items()}
    return {
        "endpoint": f"{u.hostname}:{u.port}" if u.port else u.hostname,
        "bucket": u.path.strip("/"),
        "access_key": unquote(u.username)
        if u.username
        else os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "secret_key": unquote(u.password)
        if u.password
        else os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "secure": opts.get("secure", "false").lower() in ("1", "true", "yes"),
        "region": opts.get("region"),
    }


class S3BlobStore:
    def __init__(self, url: str) -> None:
        cfg = parse_s3_url(url)
        self._bucket: str = cfg["bucket"]
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10.0, read=TIMEOUT_S),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
            maxsize=16,
        )
        self._client = Minio(
            cfg["endpoint"],
            access_key=cfg["access_key"],
            secret_key=cfg["secret_key"],
            secure=cfg["secure"],
            region=cfg["region"],
            http_client=http,
        )

    async def start(self) -> None:
        def ensure_bucket() -> None:
            if not self._client.bucket_exists(self._bucket):
                try:
                    self._client.make_bucket(self._bucket)
                except S3Error as exc:  # another worker created it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        await asyncio.to_thread(ensure_bucket)

    async def close(self) -> None:
        return None

    @staticmethod
    def _encode_meta(
        metadata: dict[str, str] | None,
    ) -> dict[str, str | list[str] | tuple[str]]:
        # S3 user metadata must be ASCII: percent-encode values (file names may be anything).
        # Always user metadata: the SDK would send keys like content-encoding as real headers,
        # which changes how some servers store and sign the object.
        return {_META_PREFIX + k.lower(): quote(v, safe="") for k, v in (metadata or {}).items()}

    @staticmethod
    def _check_key(key: str) -> None:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid blob key {key!r}")

    async def put_file(
        self, key: str, path: Path, *, metadata: dict[str, str] | None = None
    ) -> None:
        self._check_key(key)
        await asyncio.to_thread(
            self._client.fput_object,
            self._bucket,
            key,
            str(path),
            metadata=self._encode_meta(metadata),
        )

    async def put_bytes(
        self, key: str, data: bytes, *, metadata: dict[str, str] | None = None
    ) -> None:
        import io

        self._check_key(key)
        await asyncio.to_thread(
            self._client.put_object,
            self._bucket,
            key,
            io.BytesIO(data),
            len(data),
            metadata=self._encode_meta(metadata),
        )

    def _missing(self, exc: S3Error, key: str) -> BlobNotFound | S3Error:
        return BlobNotFound(key) if exc.code in _MISSING else exc

    async def get_to_file(self, key: str, path: Path) -> None:
        self._check_key(key)
        try:
            await asyncio.to_thread(self._client.fget_object, self._bucket, key, str(path))
        except S3Error as exc:
            raise self._missing(exc, key) from exc

    async def get_bytes(self, key: str) -> bytes:
        chunks = [c async for c in self.iter_chunks(key)]
        return b"".join(chunks)

    async def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self._check_key(key)
        try:
            resp = await asyncio.to_thread(self._client.get_object, self._bucket, key)
        except S3Error as exc:
            raise self._missing(exc, key) from exc
        try:
            while True:
                chunk = await asyncio.to_thread(resp.read, chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            resp.close()
            resp.release_conn()

    async def stat(self, key: str) -> BlobInfo | None:
        self._check_key(key)
        try:
            st = await asyncio.to_thread(self._client.stat_object, self._bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return None
            raise
        meta: dict[str, str] = {}
        # S3 servers differ in the case of user-metadata headers: read them case-insensitively.
        for k, v in (st.metadata or {}).items():
            lk = str(k).lower()
            if lk.startswith(_META_PREFIX):
                meta[lk[len(_META_PREFIX) :]] = unquote(str(v))
        return BlobInfo(key=key, size=int(st.size or 0), metadata=meta)

    async def delete(self, key: str) -> None:
        self._check_key(key)
        await asyncio.to_thread(self._client.remove_object, self._bucket, key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        def run() -> list[str]:
            objs = self._client.list_objects(self._bucket, prefix=prefix or None, recursive=True)
            return sorted(str(o.object_name) for o in objs)

        return await asyncio.to_thread(run)
