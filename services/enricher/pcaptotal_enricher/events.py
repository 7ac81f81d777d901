"""Enriched-flow events: bounded batches per verdict on ``flows.enriched.<verdict>``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, get_args

from pcaptotal.messages import FlowsEnriched, Verdict
from pcaptotal.ports import Bus

VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
MAX_BATCH_FLOWS = 500
# Well below RabbitMQ's default 128 MiB frame limit and kind to subscribers' memory.
MAX_BATCH_BYTES = 512 * 1024


def batches(
    flows: Iterable[dict[str, Any]],
    max_flows: int = MAX_BATCH_FLOWS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[list[dict[str, Any]]]:
    """Split flows into batches bounded by count and by serialised size (one flow may exceed)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for flow in flows:
        n = len(json.dumps(flow, separators=(",", ":"), default=str))
        if batch and (len(batch) >= max_flows or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(flow)
        size += n
    if batch:
        yield batch


def flow_verdict(flow: dict[str, Any]) -> Verdict:
    v = flow.get("pcaptotal.verdict", "clean")
    return v if v in VERDICTS else "clean"


async def publish_enriched(
    bus: Bus,
    capture_id: str,
    flows: list[dict[str, Any]],
    *,
    max_flows: int = MAX_BATCH_FLOWS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> int:
    """Publish every flow once, grouped by verdict; returns the number of messages."""
    sent = 0
    for verdict in VERDICTS:
        group = [f for f in flows if flow_verdict(f) == verdict]
        parts = list(batches(group, max_flows, max_bytes))
        for seq, part in enumerate(parts):
            await bus.publish(
                FlowsEnriched(
                    capture_id=capture_id,
                    verdict=verdict,
                    seq=seq,
                    last=seq == len(parts) - 1,
                    flows=part,
                )
            )
            sent += 1
    return sent
