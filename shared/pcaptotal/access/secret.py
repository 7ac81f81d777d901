"""The server secret API keys are hashed with (HMAC-SHA256).

From ``PCAPTOTAL_AUTH_SECRET`` (or its file in PCAPTOTAL_SECRETS_DIR); otherwise generated once:
into ``<data_dir>/auth/secret`` (mode 0600) when the blob store is a local directory (the
embedded default), or into the shared blob store (``auth/secret``) when it is not, so every
service and replica of a cluster hashes keys alike. Set PCAPTOTAL_AUTH_SECRET in a cluster: a
secret kept beside the hashes adds nothing against someone who can read the blob store (random
keys are still safe: they are 256-bit; a weak bootstrap key is not).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import structlog

from pcaptotal.ports import BlobNotFound, BlobStore
from pcaptotal.settings import Settings

log = structlog.get_logger(__name__)
SECRET_BLOB = "auth/secret"
_SETTLE_S = 1.0  # two replicas starting at once: both re-read, the last write wins for both

SECRET_BYTES = 32


def auth_dir(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "auth"


def write_private(path: Path, text: str) -> bool:
    """Create ``path`` readable by its owner only; False if it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return True


def server_secret(settings: Settings) -> bytes:
    """Blocking (small file I/O): call from a thread in async code."""
    given = settings.auth_secret.get_secret_value()
    if given:
        return given.encode()
    path = auth_dir(settings) / "secret"
    write_private(path, secrets.token_hex(SECRET_BYTES) + "\n")  # no-op when it exists
    return path.read_text().strip().encode()


async def load_secret(settings: Settings, blobs: BlobStore) -> bytes:
    """The server secret for this deployment (see the module docstring)."""
    if settings.auth_secret.get_secret_value() or settings.resolved_blob_url().startswith("file:"):
        return await asyncio.to_thread(server_secret, settings)
    try:
        return (await blobs.get_bytes(SECRET_BLOB)).strip()
    except (BlobNotFound, KeyError):
        pass
    log.warning("no PCAPTOTAL_AUTH_SECRET: a generated one is kept in the blob store; set it")
    await blobs.put_bytes(SECRET_BLOB, secrets.token_hex(SECRET_BYTES).encode())
    await asyncio.sleep(_SETTLE_S)
    return (await blobs.get_bytes(SECRET_BLOB)).strip()
