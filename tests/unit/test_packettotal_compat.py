"""PacketTotal compatibility below HTTP: PacketTotal's loose booleans and intensities, md5
markers shown only with their capture, deep-search records only to their owner, and the
gateway sending both upload spellings to ingest."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from pcaptotal.access.identity import Identity, current_identity
from pcaptotal.access.roles import Role
from pcaptotal.access.visibility import VisibleBlobs, private_capture_id
from pcaptotal.adapters.factory import make_context, start_context
from pcaptotal.captures import new_capture_doc
from pcaptotal.deletion import delete_capture
from pcaptotal.keys import md5_key, md5_prefix
from pcaptotal.packettotal import pcap_metadata
from pcaptotal.ports import BlobNotFound
from pcaptotal.settings import Settings
from pcaptotal_runner.gateway import GatewaySettings, upstream_for
from pcaptotal_search_api.compat.common import flag
from pcaptotal_search_api.compat.routes import _intensity

ALICE = Identity("alice", Role.SUBMITTER, "a" * 16)
BOB = Identity("bob", Role.READER, "b" * 16)
ADMIN = Identity("root", Role.ADMIN, "c" * 16)
MD5 = "0123456789abcdef" * 2
SHA = "ab" * 32
PRIV = private_capture_id("alice", SHA)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("True", True),
        ('false"', False),  # the SDK's /search appends a quote
        ("False'", False),
        ("'TRUE'", True),
        (" 1 ", True),
        ("", False),
        (None, False),
    ],
)
def test_packettotal_booleans(raw: str | None, value: bool) -> None:
    assert flag(raw, "pretty") is value


def test_a_bad_boolean_and_intensity_are_400() -> None:
    with pytest.raises(HTTPException) as exc:
        flag("maybe", "pretty")
    assert exc.value.status_code == 400
    assert _intensity("low") == ("low", 3) and _intensity("high'") == ("high", 10)
    assert _intensity("7") == ("7", 7)
    with pytest.raises(HTTPException):
        _intensity("11")


def test_md5_markers_and_owned_records_follow_visibility(tmp_path: Path) -> None:
    async def go() -> dict[Identity, Any]:
        ctx = make_context(Settings(data_dir=tmp_path))
        await start_context(ctx)
        for cid, vis in ((PRIV, "private"), (SHA, "public")):
            doc = new_capture_doc(cid, size=1, filename=None) | {"visibility": vis}
            await ctx.index.put_capture(doc | {"owner": "alice", "md5": MD5})
            await ctx.blobs.put_bytes(md5_key(MD5, cid), b"")
        await ctx.blobs.put_bytes(md5_key(MD5, "cd" * 32), b"")  # its capture was deleted
        await ctx.blobs.put_bytes("owned/alice/deep-search/x.json", b"{}")
        blobs: Any = VisibleBlobs(ctx.blobs, ctx.index)
        seen: dict[Identity, Any] = {}
        for who in (ALICE, BOB, ADMIN):
            current_identity.set(who)
            markers = {k.rsplit("/", 1)[-1] for k in await blobs.list_keys(md5_prefix(MD5))}
            try:
                owned = await blobs.get_bytes("owned/alice/deep-search/x.json")
            except BlobNotFound:
                owned = None
            seen[who] = (markers, owned)
        return seen

    seen = asyncio.run(go())
    assert seen[ALICE] == ({PRIV, SHA}, b"{}")
    assert seen[BOB] == ({SHA}, None)  # as if Alice's private capture did not exist
    assert seen[ADMIN][0] >= {PRIV, SHA}


def test_pcap_metadata_from_a_capture_document() -> None:
    doc = new_capture_doc(SHA, size=10, filename="a.pcap") | {
        "md5": MD5,
        "sha256": SHA,
        "context": {"source": "https://example.org/r"},
    }
    meta = pcap_metadata(doc)
    assert meta["md5"] == MD5 and meta["name"] == "a.pcap" and meta["file_size"] == 10
    assert meta["visibility"] == "public" and meta["sources"] == ["https://example.org/r"]


def test_the_gateway_sends_both_upload_spellings_to_ingest() -> None:
    s = GatewaySettings(
        gateway_ingest_url="http://ingest",
        gateway_search_url="http://search",
        gateway_intel_url="http://intel",
    )
    for path in ("/compat/packettotal/v1/analyze/base64", "/compat/packettotal/v1/pcaps/analyze"):
        assert upstream_for("POST", path, s) == "http://ingest"
    assert upstream_for("POST", "/compat/packettotal/v1/search/deep", s) == "http://search"
    assert upstream_for("GET", f"/compat/packettotal/v1/pcaps/{MD5}", s) == "http://search"


def test_deleting_a_capture_removes_its_md5_marker(tmp_path: Path) -> None:
    async def go() -> tuple[list[str], list[str]]:
        ctx = make_context(Settings(data_dir=tmp_path))
        await start_context(ctx)
        doc = new_capture_doc(SHA, size=1, filename=None) | {"status": "done", "md5": MD5}
        await ctx.index.put_capture(doc)
        await ctx.blobs.put_bytes(md5_key(MD5, SHA), b"")
        done = await delete_capture(ctx.index, ctx.blobs, SHA)
        assert done is not None
        return done.blobs, await ctx.blobs.list_keys(md5_prefix(MD5))

    removed, left = asyncio.run(go())
    assert md5_key(MD5, SHA) in removed and left == []
