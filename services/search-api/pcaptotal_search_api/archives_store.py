"""Curated archives: what an admin put together, kept in the blob store.

One small JSON blob per archive (``archives/<sha256 of the name>.json``: name, title,
description, times, and its captures with when each was added), so both deployment modes
keep them where they keep captures (a local directory or S3), and every search-API replica
reads the same ones. Members are capture ids only: who may see a member is decided when it is
read, through the caller's visibility-scoped index (a private capture in a curated archive
stays invisible to everyone but its owner and admins).

The names are listed in ``archives/index.json`` so that listing them reads one blob instead
of walking the store (a directory walk over every capture and carved file in the embedded
mode). An archive's blob is written before its name is listed and unlisted before it is
removed, so a crash between the two leaves at most an unlisted archive, which the next
``PUT`` of it lists again.

Edits are read-modify-write of one blob, serialised per archive (and for the name index)
within a process; two replicas editing one archive at the same instant could lose one edit
(as capture documents can). A member whose capture was deleted is dropped when it is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException
from pcaptotal.ports import BlobNotFound, BlobStore
from pcaptotal.web import quote_input
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PREFIX = "archives/"
INDEX = f"{PREFIX}index.json"
_LOAD_CONCURRENCY = 16
# <kind>/<value>[/...]: segments of letters, digits and . _ + - and spaces (family names
# such as "Cobalt Strike"); "captures" and "bundle.zip" are route words, not segment names.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,79}"
NAME = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{1,3}}$")
_RESERVED = frozenset({"captures", "bundle.zip"})
_locks: dict[str, asyncio.Lock] = {}


class ArchiveText(BaseModel):
    """What an admin says about a curated archive (``PUT /v1/archives/{name}``)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""


class Curated(BaseModel):
    """A curated archive as stored."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    description: str = ""
    created: datetime
    updated: datetime
    captures: dict[str, datetime] = Field(
        default_factory=dict, description="capture id -> when it was added"
    )


def check_name(name: str) -> str:
    """400 unless ``name`` can name a curated archive (see ``NAME``)."""
    if not NAME.fullmatch(name) or _RESERVED & set(name.split("/")):
        raise HTTPException(
            400,
            f"archive name {quote_input(name)}: 2-4 segments <kind>/<value>[/...] of letters, "
            "digits, space, . _ + - (at most 80 each; not 'captures' or 'bundle.zip')",
        )
    return name


def key(name: str) -> str:
    return f"{PREFIX}{hashlib.sha256(name.encode()).hexdigest()}.json"


def lock(name: str) -> asyncio.Lock:
    return _locks.setdefault(name, asyncio.Lock())


async def load(blobs: BlobStore, name: str) -> Curated | None:
    try:
        data = await blobs.get_bytes(key(name))
    except BlobNotFound:
        return None
    return Curated.model_validate_json(data)


async def save(blobs: BlobStore, archive: Curated) -> None:
    archive.updated = datetime.now(UTC)
    body = archive.model_dump_json().encode()
    await blobs.put_bytes(key(archive.name), body, metadata={"content-type": "application/json"})


async def names(blobs: BlobStore) -> list[str]:
    try:
        listed = json.loads(await blobs.get_bytes(INDEX))
    except BlobNotFound:
        return []
    return sorted(str(n) for n in listed)


async def _write_names(blobs: BlobStore, listed: set[str]) -> None:
    body = json.dumps(sorted(listed)).encode()
    await blobs.put_bytes(INDEX, body, metadata={"content-type": "application/json"})


async def register(blobs: BlobStore, name: str) -> None:
    """List ``name`` in the index (after its blob was saved)."""
    async with lock(INDEX):
        listed = set(await names(blobs))
        if name not in listed:
            await _write_names(blobs, listed | {name})


async def delete(blobs: BlobStore, name: str) -> None:
    async with lock(INDEX):
        listed = set(await names(blobs))
        if name in listed:
            await _write_names(blobs, listed - {name})
    await blobs.delete(key(name))


async def load_all(blobs: BlobStore) -> list[Curated]:
    """Every listed curated archive, by name (read a few at a time)."""
    gate = asyncio.Semaphore(_LOAD_CONCURRENCY)

    async def one(name: str) -> Curated | None:
        async with gate:
            return await load(blobs, name)

    found = await asyncio.gather(*(one(n) for n in await names(blobs)))
    return [a for a in found if a is not None]  # None: removed since it was listed
