"""Which flows each verdict's routing key last carried, per capture: the memory behind
``flows.retracted``.

After a run has published its flows, the enricher stores ``{verdict: [event ids]}`` under
``published/<capture_id>.json.zst`` in the blob store. The next run compares its verdicts with
it: every flow that left a verdict (moved to another, or is gone) is retracted on the old
verdict's key. The blob also keeps what the run retracted, so a redelivered run republishes
exactly the same retractions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
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


def read_state(path: Path) -> PublishedState | None:
    """The state in the file at ``path`` (blocking); None when it cannot be read: nothing to
    retract against then (subscribers get full batches)."""
    try:
        return _decode(path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError, zstandard.ZstdError):
        return None


def write_state(state: PublishedState, path: Path) -> None:
    path.write_bytes(_encode(state))


async def fetch(blobs: BlobStore, capture_id: str, path: Path) -> bool:
    """The capture's published state as the file ``path``; False when it has none."""
    try:
        await blobs.get_to_file(state_key(capture_id), path)
    except BlobNotFound:
        return False
    return True


async def upload(blobs: BlobStore, capture_id: str, path: Path) -> None:
    """Store the state ``write_state`` wrote to ``path`` as the capture's."""
    await blobs.put_file(state_key(capture_id), path)
