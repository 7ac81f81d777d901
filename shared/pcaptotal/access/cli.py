"""``python -m pcaptotal keys``: create, list and revoke API keys from the command line.

    python -m pcaptotal keys create --role submitter --owner alice   # prints the key once
    python -m pcaptotal keys list
    python -m pcaptotal keys revoke <id>

Works on the services' own key store (PCAPTOTAL_BLOB_URL or <data dir>/blobs) with their
server secret (PCAPTOTAL_AUTH_SECRET, else the generated one; ``pcaptotal.access.secret``): run
it with the services' settings (e.g. kubectl exec into a search-api pod).
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

import typer

from pcaptotal.access.apikeys import KeyStore
from pcaptotal.access.audit import audit
from pcaptotal.access.keys_api import view
from pcaptotal.access.roles import Role
from pcaptotal.access.secret import load_secret
from pcaptotal.adapters.factory import make_blobstore
from pcaptotal.logs import configure_logging
from pcaptotal.resilience import retrying
from pcaptotal.settings import Settings

T = TypeVar("T")
TIMEOUT_S = 30.0

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


@keys_app.callback()
def _logging() -> None:
    # Audit lines go to stderr as JSON; stdout carries only the command's answer.
    configure_logging(Settings().log_level)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@asynccontextmanager
async def _store() -> AsyncIterator[KeyStore]:
    settings = Settings()
    blobs = make_blobstore(settings.resolved_blob_url(), settings)
    await blobs.start()
    try:
        secret = await load_secret(settings, blobs)
        yield KeyStore(retrying(blobs, "blob store", TIMEOUT_S), secret)
    finally:
        await blobs.close()


def _run(fn: Callable[[KeyStore], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _store() as store:
            return await asyncio.wait_for(fn(store), TIMEOUT_S * 2)

    return asyncio.run(go())


@keys_app.command()
def create(
    role: Annotated[Role, typer.Option(help="reader, submitter or admin")],
    owner: Annotated[str, typer.Option(help="who the key belongs to (captures are theirs)")],
) -> None:
    """Create a key and print it as JSON (id, key, owner, role); the key is not shown again."""
    try:
        rec, key = _run(lambda s: s.create(owner, role))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    audit(_actor(), "key.create", "ok", key_id=rec.id, key_owner=owner, key_role=role.value)
    typer.echo(json.dumps({"id": rec.id, "key": key, "owner": rec.owner, "role": rec.role}))


@keys_app.command("list")
def list_keys() -> None:
    """Every key (no secrets), one JSON object a line, oldest first."""
    for rec in _run(lambda s: s.list()):
        typer.echo(view(rec).model_dump_json())


@keys_app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id")]) -> None:
    """Revoke a key (other processes stop accepting it within seconds)."""
    rec = _run(lambda s: s.revoke(key_id))
    audit(_actor(), "key.revoke", "ok" if rec else "not found", key_id=key_id)
    if rec is None:
        typer.echo(f"no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(view(rec).model_dump_json())
