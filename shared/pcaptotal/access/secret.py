"""The server secret API keys are hashed with (HMAC-SHA256).

From ``PCAPTOTAL_AUTH_SECRET`` (or its file in PCAPTOTAL_SECRETS_DIR); otherwise generated once
into ``<data_dir>/auth/secret`` (mode 0600). Processes that share a key store (a cluster) must
share the secret: set it on every service.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pcaptotal.settings import Settings

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
