"""Which flows each verdict's routing key last carried, per capture: the memory behind
``flows.retracted``.

After a run has published its flows, the enricher stores ``{verdict: [event ids]}`` under
``published/<capture_id>.json.zst`` in the blob store. The next run compares its verdicts with
it: every flow that left a verdict (moved to another, or is gone) is retracted on the old
verdict's key. The blob also keeps what the run retracted, so a redelivered run republishes
exactly the same retractions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import zstandard
from pcaptotal.messages import VERDICTS, Verdict
from pcaptotal.ports import BlobNotFound, BlobStore

from pcaptotal_enricher.events import flow_event_id, flow_verdict

PREFIX = "published/"


def state_key(capture_id: str) -> str:
    return f"{PREFIX}{capture_id}.json.zst"


@dataclass(slots=True)
class PublishedState:
    analysis_id: str
    generation: int
    flows: dict[Verdict, list[str]] = field(default_factory=dict)  # verdict → event ids
    retracted: dict[Verdict, list[str]] = field(default_factory=dict)


def by_verdict(flows: Iterable[dict[str, Any]]) -> dict[Verdict, list[str]]:
    out: dict[Verdict, list[str]] = {v: [] for v in VERDICTS}
    for f in flows:
        out[flow_verdict(f)].append(flow_event_id(f))
    return out


def plan_retractions(
    previous: PublishedState | None, analysis_id: str, current: dict[Verdict, list[str]]
) -> dict[Verdict, list[str]]:
    """Event ids per old verdict that this run no longer publishes under that verdict."""
    if previous is None:
        return {}
    if previous.analysis_id == analysis_id:
        return previous.retracted  # a redelivery of a run that already got this far
    out: dict[Verdict, list[str]] = {}
    for verdict in VERDICTS:
        now = set(current.get(verdict, []))
        left = [i for i in previous.flows.get(verdict, []) if i not in now]
        if left:
            out[verdict] = left
    return out


def _encode(state: PublishedState) -> bytes:
    raw = json.dumps(
        {
            "analysis_id": state.analysis_id,
            "generation": state.generation,
            "flows": state.flows,
            "retracted": state.retracted,
        },
        separators=(",", ":"),
    ).encode()
    return zstandard.ZstdCompressor(level=3).compress(raw)


def _decode(data: bytes) -> PublishedState:
    raw = json.loads(zstandard.ZstdDecompressor().decompress(data))
    return PublishedState(
        analysis_id=str(raw["analysis_id"]),
        generation=int(raw["generation"]),
        flows={v: list(raw["flows"].get(v, [])) for v in VERDICTS},
        retracted={v: list(ids) for v, ids in raw.get("retracted", {}).items() if v in VERDICTS},
    )


async def load(blobs: BlobStore, capture_id: str) -> PublishedState | None:
    try:
        data = await blobs.get_bytes(state_key(capture_id))
    except BlobNotFound:
        return None
    try:
        return await asyncio.to_thread(_decode, data)
    except (ValueError, KeyError, TypeError, zstandard.ZstdError):
        return None  # unreadable: nothing to retract against (subscribers get full batches)


async def save(blobs: BlobStore, capture_id: str, state: PublishedState) -> None:
    data = await asyncio.to_thread(_encode, state)
    await blobs.put_bytes(state_key(capture_id), data)
