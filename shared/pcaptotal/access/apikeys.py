"""API keys: ``pt_<id>_<secret>``, stored hashed (HMAC-SHA256 under the server secret) in the
BlobStore as ``keys/<id>``, so every service of a cluster reads the same store.

Lookup is by the id inside the key (one blob read, then one HMAC and a constant-time compare).
A key that does not have this shape (a bootstrap key chosen by an operator) gets an id derived
from its hash, so any string works as the bootstrap admin key.

Each process caches lookups (found and not found) for ``CACHE_TTL_S`` seconds: a key revoked
elsewhere stops working within that time; revoked through this process, at once.

Timing does not tell whether a key id exists: a lookup that finds no record reads and parses a
decoy record instead (``DECOY_BLOB``), and every check ends in one HMAC and one constant-time
compare (tests/unit/test_timing_leaks.py measures both).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from pcaptotal.access.roles import Role
from pcaptotal.ports import BlobNotFound, BlobStore

KEY_BLOB_PREFIX = "keys/"
DECOY_BLOB = "auth/decoy-key"  # outside keys/: never listed, never authenticates
CACHE_TTL_S = 5.0
_CACHE_MAX = 10_000
MAX_KEY_CHARS = 256  # longer header values are refused before any lookup
_SHAPE = re.compile(r"^pt_([0-9a-f]{16})_[A-Za-z0-9_-]{20,}$")
_ID = re.compile(r"^[0-9a-f]{16}$")
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"


class StoredKey(BaseModel):
    id: str
    owner: str
    role: Role
    created: datetime
    revoked: datetime | None = None
    hash: str = Field(description="HMAC-SHA256(server secret, key), hex")


def key_id(key: str) -> str:
    """The id a key is stored under: the one it carries, else one derived from it."""
    m = _SHAPE.match(key)
    return m.group(1) if m else hashlib.sha256(key.encode()).hexdigest()[:16]


def valid_id(value: str) -> bool:
    return bool(_ID.match(value))


def new_key() -> str:
    return f"pt_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


class KeyStore:
    def __init__(
        self,
        blobs: BlobStore,
        secret: bytes,
        *,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._blobs = blobs
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, StoredKey | None]] = {}
        # Compared against when no live record exists, so that case costs what a wrong
        # secret costs (tests/unit/test_timing_leaks.py measures it).
        self._absent = self.hash(secrets.token_urlsafe(32))

    def hash(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    async def create(
        self, owner: str, role: Role, *, key: str | None = None
    ) -> tuple[StoredKey, str]:
        """(the stored record, the key: shown once, never stored)."""
        if not re.match(OWNER_PATTERN, owner):
            raise ValueError("owner: 1-128 of A-Z a-z 0-9 . _ @ - (starting alphanumeric)")
        key = key or new_key()
        rec = StoredKey(
            id=key_id(key), owner=owner, role=role, created=datetime.now(UTC), hash=self.hash(key)
        )
        await self._put(rec)
        return rec, key

    async def _put(self, rec: StoredKey) -> None:
        await self._blobs.put_bytes(KEY_BLOB_PREFIX + rec.id, rec.model_dump_json().encode())
        self._cache.pop(rec.id, None)

    async def get(self, id_: str) -> StoredKey | None:
        """Uncached read of one key record."""
        if not valid_id(id_):
            return None
        try:
            data = await self._blobs.get_bytes(KEY_BLOB_PREFIX + id_)
        except (BlobNotFound, KeyError):
            return None
        return StoredKey.model_validate(json.loads(data))

    async def list(self) -> list[StoredKey]:
        keys = await self._blobs.list_keys(KEY_BLOB_PREFIX)
        found = [await self.get(k.removeprefix(KEY_BLOB_PREFIX)) for k in sorted(keys)]
        return sorted((k for k in found if k is not None), key=lambda k: k.created)

    async def any_keys(self) -> bool:
        return bool(await self._blobs.list_keys(KEY_BLOB_PREFIX))

    async def revoke(self, id_: str) -> StoredKey | None:
        rec = await self.get(id_)
        if rec is None:
            return None
        if rec.revoked is None:
            rec.revoked = datetime.now(UTC)
            await self._put(rec)
        return rec

    async def authenticate(self, key: str) -> StoredKey | None:
        """The live record of ``key``, or None (unknown, wrong secret, revoked)."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        rec = await self._cached(key_id(key))
        # One HMAC and one constant-time compare whether the id exists, is revoked or not:
        # an early return here would tell a caller by timing which key ids exist.
        live = rec is not None and rec.revoked is None
        expected = rec.hash if rec is not None and live else self._absent
        matches = hmac.compare_digest(expected, self.hash(key))
        return rec if live and matches else None

    async def _read_decoy(self) -> None:
        """What reading a found record costs: one blob read and one parse."""
        try:
            data = await self._blobs.get_bytes(DECOY_BLOB)
        except (BlobNotFound, KeyError):
            decoy = StoredKey(
                id="0" * 16,
                owner="decoy",
                role=Role.READER,
                created=datetime.now(UTC),
                revoked=datetime.now(UTC),
                hash=self._absent,
            )
            data = decoy.model_dump_json().encode()
            await self._blobs.put_bytes(DECOY_BLOB, data)
        StoredKey.model_validate(json.loads(data))

    async def _cached(self, id_: str) -> StoredKey | None:
        now = self._clock()
        hit = self._cache.get(id_)
        if hit is not None and hit[0] > now:
            return hit[1]
        rec = await self.get(id_)
        if rec is None:
            await self._read_decoy()
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # bounded; a flood of made-up ids cannot grow it
        self._cache[id_] = (now + self._ttl_s, rec)
        return rec
