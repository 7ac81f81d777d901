"""API keys: format, HMAC storage, lookup cache and revocation, first admin key, auth=off."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pcaptotal.access.apikeys import KeyStore, key_id, new_key
from pcaptotal.access.http import start_access
from pcaptotal.access.roles import Role
from pcaptotal.access.secret import server_secret
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(tmp_path: Path, secret: bytes = b"s" * 32, clock: Clock | None = None) -> KeyStore:
    return KeyStore(FileBlobStore(tmp_path / "blobs"), secret, ttl_s=5.0, clock=clock or Clock())


def test_key_format_and_id() -> None:
    key = new_key()
    assert key.startswith("pt_") and len(key) > 50
    assert key_id(key) == key.split("_")[1]
    # any other string (an operator's bootstrap key) gets a stable derived id
    assert key_id("my-admin-key") == key_id("my-admin-key") != key_id("my-admin-key2")
    assert len(key_id("x")) == 16


def test_stored_hashed_never_plain(tmp_path: Path) -> None:
    async def go() -> None:
        s = store(tmp_path)
        rec, key = await s.create("alice", Role.SUBMITTER)
        raw = (tmp_path / "blobs" / "keys" / rec.id).read_bytes()
        assert key.encode() not in raw and key.split("_", 2)[2].encode() not in raw
        assert json.loads(raw)["hash"] == s.hash(key)
        assert (await s.authenticate(key)) == rec
        assert await s.authenticate(key + "x") is None
        assert await s.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        # another server secret does not verify the same key
        assert await store(tmp_path, b"t" * 32).authenticate(key) is None
        assert await s.authenticate("") is None
        assert await s.authenticate("pt_" + "0" * 16 + "_" + "a" * 5000) is None

    asyncio.run(go())


def test_revocation_visible_here_at_once_elsewhere_within_ttl(tmp_path: Path) -> None:
    async def go() -> None:
        clock = Clock()
        here, elsewhere = store(tmp_path, clock=clock), store(tmp_path, clock=clock)
        rec, key = await here.create("bob", Role.READER)
        assert await elsewhere.authenticate(key) is not None  # cached for 5 s there
        await here.revoke(rec.id)
        assert await here.authenticate(key) is None
        clock.now = 4.9
        assert await elsewhere.authenticate(key) is not None
        clock.now = 5.1
        assert await elsewhere.authenticate(key) is None
        assert [k.revoked is not None for k in await here.list()] == [True]

    asyncio.run(go())


def test_owner_is_validated(tmp_path: Path) -> None:
    async def go() -> None:
        for bad in ("", 'a"b', "a b", "x" * 200, "-x"):
            with pytest.raises(ValueError):
                await store(tmp_path).create(bad, Role.READER)

    asyncio.run(go())


def test_roles_rank() -> None:
    assert Role.ADMIN.allows(Role.SUBMITTER) and Role.SUBMITTER.allows(Role.READER)
    assert not Role.READER.allows(Role.SUBMITTER) and not Role.SUBMITTER.allows(Role.ADMIN)


def test_server_secret_generated_once_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, auth_secret="")
    first = server_secret(settings)
    path = tmp_path / "auth" / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert server_secret(settings) == first and len(first) == 64
    assert server_secret(Settings(data_dir=tmp_path, auth_secret="given")) == b"given"


def _app(tmp_path: Path) -> Any:
    """What start_access needs of a FastAPI app: ``state`` with the request context."""
    from pcaptotal.adapters.factory import make_context

    return SimpleNamespace(state=SimpleNamespace(ctx=make_context(Settings(data_dir=tmp_path))))


def test_first_start_creates_admin_key_file(tmp_path: Path) -> None:
    async def go() -> None:
        settings = Settings(data_dir=tmp_path, auth="on")
        app = _app(tmp_path)
        await start_access(app, settings, embedded=True)
        path = tmp_path / "auth" / "admin-key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        key = path.read_text().strip()
        rec = await app.state.access.store.authenticate(key)
        assert rec is not None and rec.role is Role.ADMIN
        # a second start keeps the key
        await start_access(_app(tmp_path), settings, embedded=True)
        assert path.read_text().strip() == key

    asyncio.run(go())


def test_bootstrap_key_becomes_admin(tmp_path: Path) -> None:
    async def go() -> None:
        settings = Settings(data_dir=tmp_path, auth="on", bootstrap_admin_key="boot-123")
        app = _app(tmp_path)
        await start_access(app, settings, embedded=False)
        rec = await app.state.access.store.authenticate("boot-123")
        assert rec is not None and rec.role is Role.ADMIN
        assert not (tmp_path / "auth" / "admin-key").exists()

    asyncio.run(go())


def test_auth_off_refused_off_loopback(tmp_path: Path) -> None:
    async def go() -> None:
        for host in ("0.0.0.0", "10.1.2.3", "::"):
            settings = Settings(data_dir=tmp_path, auth="off", http_host=host)
            with pytest.raises(RuntimeError, match="refused"):
                await start_access(_app(tmp_path), settings, embedded=True)
        for host in ("127.0.0.1", "::1", "localhost"):
            settings = Settings(data_dir=tmp_path, auth="off", http_host=host)
            await start_access(_app(tmp_path), settings, embedded=True)

    asyncio.run(go())


def test_cluster_secret_is_shared_through_the_blob_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas without PCAPTOTAL_AUTH_SECRET and with a shared (non-local) blob store hash
    keys alike: the generated secret lives in the store, not in each pod's data dir."""
    import pcaptotal.access.secret as secret_mod

    monkeypatch.setattr(secret_mod, "_SETTLE_S", 0.0)
    blobs = FileBlobStore(tmp_path / "shared")  # stands in for S3

    async def go() -> tuple[bytes, bytes]:
        pod_a = Settings(data_dir=tmp_path / "a", blob_url="s3://bucket/x", auth_secret="")
        pod_b = Settings(data_dir=tmp_path / "b", blob_url="s3://bucket/x", auth_secret="")
        return await secret_mod.load_secret(pod_a, blobs), await secret_mod.load_secret(
            pod_b, blobs
        )

    a, b = asyncio.run(go())
    assert a == b and len(a) == 64
    assert not (tmp_path / "a" / "auth").exists()
