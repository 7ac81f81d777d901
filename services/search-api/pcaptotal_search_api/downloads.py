"""Downloads of one capture: the original, one flow's packets, one packet's dissection, a
carved file (zipped with the password ``infected``) and the whole bundle (``bundle``).

Cutting a flow and dissecting a packet run tshark over the stored capture in the same sandbox
as the parser (``pcaptotal.tshark_box``), bounded in time and output. Files stream from the blob
store; nothing is held whole in memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pcaptotal.context import Context
from pcaptotal.keys import capture_key, file_key, flow_doc_id
from pcaptotal.query import parse_query
from pcaptotal.tshark_box import OUTPUT, BoxedError, BoxedTooLarge, run_boxed
from pcaptotal.web import error_responses, media_response
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from stream_zip import ZIP_64, async_stream_zip

from pcaptotal_search_api.params import CaptureId, CtxDep, existing_capture

PCAP_MEDIA_TYPE = "application/vnd.tcpdump.pcap"
ZIP_MEDIA_TYPE = "application/zip"
SAMPLE_PASSWORD = "infected"  # the malware-sample convention: no accidental opening
PACKET_TIMEOUT_S = 120.0
PACKET_JSON_LIMIT = 16 * 1024 * 1024  # one packet's dissection (a reassembled PDU can be big)
CHUNK = 1 << 20

_FLOW_KEY = re.compile(r"^(tcp|udp)-(\d{1,12})$|^ip-(\d{1,3})-([0-9A-Fa-f:.]+)-([0-9A-Fa-f:.]+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BINARY = {"type": "string", "format": "binary"}
_DISPOSITION = {"Content-Disposition": {"schema": {"type": "string"}, "required": True}}
_BAD = "a capture id (or flow id, hash, packet number) that is not well-formed"


class PacketView(BaseModel):
    """One packet as tshark dissects it (``tshark -T json``): its layers by protocol, each a
    tree of field name → value (repeated fields as arrays)."""

    model_config = ConfigDict(extra="forbid")

    capture_id: str = Field(pattern="^[0-9a-f]{64}$")
    number: int = Field(ge=1, description="frame.number")
    layers: dict[str, JsonValue] = Field(description="tshark's layers of this frame")


def _work_dir(ctx: Context) -> Path:
    root = ctx.settings.tmp_dir
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="download-", dir=root))


async def _fetch_capture(ctx: Context, capture_id: str) -> Path:
    """The stored capture in a private scratch directory (the caller removes its parent)."""
    work = await asyncio.to_thread(_work_dir, ctx)
    path = work / "capture"
    try:
        await ctx.blobs.get_to_file(capture_key(capture_id), path)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, work, True)
        raise
    return path


async def _stream_file(path: Path, cleanup: Path) -> AsyncIterator[bytes]:
    try:
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
    finally:
        await asyncio.to_thread(shutil.rmtree, cleanup, True)


def flow_filter(flow_key: str) -> str:
    """The display filter that selects exactly one flow's packets, from its key (``tcp-N``,
    ``udp-N`` by tshark's stream index; ``ip-P-A-B`` by protocol and address pair). Only
    digits and parsed addresses reach the filter."""
    m = _FLOW_KEY.fullmatch(flow_key)
    if m is None:
        raise ValueError(flow_key)
    if m.group(1):
        return f"{m.group(1)}.stream eq {int(m.group(2))}"
    proto = int(m.group(3))
    a, b = (ipaddress.ip_address(m.group(i)) for i in (4, 5))
    if a.version != b.version:
        raise ValueError(flow_key)
    if a.version == 4:
        return f"ip.addr eq {a} and ip.addr eq {b} and ip.proto eq {proto}"
    return f"ipv6.addr eq {a} and ipv6.addr eq {b} and ipv6.nxt eq {proto}"


def _flow_key(capture_id: str, flow_id: str) -> str:
    key = flow_id.removeprefix(f"{capture_id}-")
    try:
        flow_filter(key)
    except ValueError:
        raise HTTPException(
            400, f"not a flow id of this capture: expected {capture_id}-tcp-N, -udp-N or -ip-..."
        ) from None
    return key


def _output_format(capture: Path) -> str:
    with capture.open("rb") as fh:
        head = fh.read(4)
    return "pcapng" if head == b"\x0a\x0d\x0d\x0a" else "pcap"


def add_download_routes(router: APIRouter) -> None:
    _one = error_responses({400: _BAD, 404: "no capture (or flow, file, packet) with this id"})

    async def original(capture_id: CaptureId, ctx: CtxDep) -> StreamingResponse:
        """The capture's bytes as uploaded (decompressed): pcap or pcapng."""
        await existing_capture(ctx, capture_id)
        key = capture_key(capture_id)
        info = await ctx.blobs.stat(key)
        if info is None:
            raise HTTPException(404, f"no stored bytes for capture {capture_id}")

        async def body() -> AsyncIterator[bytes]:
            async for chunk in ctx.blobs.iter_chunks(key):
                yield chunk

        return StreamingResponse(
            body(),
            media_type=PCAP_MEDIA_TYPE,
            headers={
                "Content-Length": str(info.size),
                "Content-Disposition": f'attachment; filename="{capture_id}.pcap"',
            },
        )

    pcap_response = media_response(
        PCAP_MEDIA_TYPE, "the capture as uploaded (decompressed)", _BINARY, _DISPOSITION
    )
    for path, name in (("pcap", "capture_pcap"), ("download", "capture_download")):
        router.add_api_route(
            f"/v1/captures/{{capture_id}}/{path}",
            original,
            methods=["GET"],
            tags=["downloads"],
            response_class=StreamingResponse,
            responses={200: pcap_response, **_one, **error_responses([503])},
            name=name,
            summary="The original capture" + (" (alias of /pcap)" if path == "download" else ""),
        )

    @router.get(
        "/v1/captures/{capture_id}/flows/{flow_id}/pcap",
        tags=["downloads"],
        response_class=StreamingResponse,
        responses={
            200: media_response(
                PCAP_MEDIA_TYPE,
                "only this flow's packets, in the capture's format (pcap or pcapng)",
                _BINARY,
                _DISPOSITION,
            ),
            **_one,
            **error_responses({502: "tshark could not cut the flow", 503: ""}),
        },
    )
    async def flow_pcap(
        capture_id: CaptureId,
        flow_id: Annotated[str, PathParam(description="the flow's event.id (or its key)")],
        ctx: CtxDep,
    ) -> StreamingResponse:
        """One flow's packets, cut from the capture by tshark (``-Y`` on its stream index, or
        its address pair and protocol), in the sandbox."""
        await existing_capture(ctx, capture_id)
        key = _flow_key(capture_id, flow_id)
        flow = await ctx.index.get_flow(flow_doc_id(capture_id, key))
        if flow is None or flow.get("event.dataset", "flow") != "flow":
            raise HTTPException(404, f"no flow {key} in capture {capture_id}")
        capture = await _fetch_capture(ctx, capture_id)
        work = capture.parent
        out = work / "flow.pcap"
        try:
            fmt = await asyncio.to_thread(_output_format, capture)
            await run_boxed(
                ctx.settings.tshark_path,
                ["-n", "-r", "-", "-Y", flow_filter(key), "-F", fmt, "-w", OUTPUT],
                capture,
                ctx.settings,
                timeout_s=ctx.settings.parse_timeout_s,
                output=out,
            )
            await asyncio.to_thread(capture.unlink)
            if not await asyncio.to_thread(out.exists):
                raise BoxedError("tshark wrote no file")
        except BoxedError as exc:
            await asyncio.to_thread(shutil.rmtree, work, True)
            raise HTTPException(502, f"cutting the flow failed: {exc.reason}") from None
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, work, True)
            raise
        size = (await asyncio.to_thread(out.stat)).st_size
        return StreamingResponse(
            _stream_file(out, work),
            media_type=PCAP_MEDIA_TYPE,
            headers={
                "Content-Length": str(size),
                "Content-Disposition": f'attachment; filename="{capture_id}-{key}.{fmt}"',
            },
        )

    @router.get(
        "/v1/captures/{capture_id}/packets/{n}",
        tags=["downloads"],
        response_model=PacketView,
        responses={
            **_one,
            **error_responses(
                {
                    413: "the packet's dissection is larger than the API returns",
                    502: "tshark could not dissect the capture",
                    503: "",
                }
            ),
        },
    )
    async def packet(
        capture_id: CaptureId,
        # tshark counts packets in a signed 32-bit int (-c above it is an error, not a 404)
        n: Annotated[int, PathParam(ge=1, le=2**31 - 1, description="frame.number, from 1")],
        ctx: CtxDep,
    ) -> PacketView:
        """The full dissection of packet ``n`` (``tshark -T json``; tshark reads the capture up
        to that packet only, so reassembly state before it is kept)."""
        await existing_capture(ctx, capture_id)
        capture = await _fetch_capture(ctx, capture_id)
        try:
            # -c: stop reading after frame n; -Y: show only it
            args = ["-n", "-r", "-", "-T", "json", "--no-duplicate-keys", "-c", str(n)]
            result = await run_boxed(
                ctx.settings.tshark_path,
                [*args, "-Y", f"frame.number == {n}"],
                capture,
                ctx.settings,
                timeout_s=min(PACKET_TIMEOUT_S, ctx.settings.parse_timeout_s),
                stdout_limit=PACKET_JSON_LIMIT,
            )
        except BoxedTooLarge as exc:
            raise HTTPException(413, f"packet {n}: {exc.reason}") from None
        except BoxedError as exc:
            raise HTTPException(502, f"dissecting packet {n} failed: {exc.reason}") from None
        finally:
            await asyncio.to_thread(shutil.rmtree, capture.parent, True)
        frames: Any = await asyncio.to_thread(json.loads, result.stdout or b"[]")
        if not frames:
            raise HTTPException(404, f"capture {capture_id} has fewer than {n} packets")
        layers = frames[0].get("_source", {}).get("layers", {})
        return PacketView(capture_id=capture_id, number=n, layers=layers)

    @router.get(
        "/v1/captures/{capture_id}/files/{sha256}",
        tags=["downloads"],
        response_class=StreamingResponse,
        responses={
            200: media_response(
                ZIP_MEDIA_TYPE,
                f"a zip (AES-256) holding the file, named by its SHA-256; password "
                f"'{SAMPLE_PASSWORD}'",
                _BINARY,
                _DISPOSITION,
            ),
            **_one,
            **error_responses([503]),
        },
    )
    async def carved_file(
        capture_id: CaptureId,
        sha256: Annotated[str, PathParam(description="the file's SHA-256 (file.hash.sha256)")],
        ctx: CtxDep,
    ) -> StreamingResponse:
        """A file carved from the capture, inside a zip encrypted with the password
        ``infected`` (the malware-sample convention: nothing opens it by accident)."""
        await existing_capture(ctx, capture_id)
        if not _SHA256.fullmatch(sha256):
            raise HTTPException(400, "a file hash is 64 lowercase hex digits (SHA-256)")
        named = await ctx.index.search_flows(
            parse_query(f"file.hash.sha256:{sha256}"),
            capture_id=capture_id,
            limit=1,
            datasets=("file",),
        )
        key = file_key(sha256)
        if named.total == 0 or await ctx.blobs.stat(key) is None:
            raise HTTPException(404, f"no carved file {sha256} in capture {capture_id}")
        return StreamingResponse(
            encrypted_zip(ctx, [(sha256, key)]),
            media_type=ZIP_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{sha256}.zip"'},
        )


async def blob_chunks(ctx: Context, key: str) -> AsyncIterator[bytes]:
    async for chunk in ctx.blobs.iter_chunks(key, CHUNK):
        yield chunk


def encrypted_zip(ctx: Context, members: list[tuple[str, str]]) -> AsyncIterable[bytes]:
    """A streamed zip of blobs (name, key), AES-256 with the sample password."""
    now = datetime.now(UTC)

    async def files() -> AsyncIterator[Any]:
        for name, key in members:
            yield name, now, 0o600, ZIP_64, blob_chunks(ctx, key)

    return async_stream_zip(files(), password=SAMPLE_PASSWORD)
