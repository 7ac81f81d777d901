"""Flow events of one analysis run: ``flows.retracted.<old verdict>`` for flows that left a
verdict since the previous run, then ``flows.enriched.<verdict>`` batches. A private capture's
go under ``private.flows.*`` instead (``pcaptotal.messages.flow_routing_key``), so subscribers
bound to the public keys never receive them.

Batches are bounded by count and by the byte size of the WHOLE message body (envelope
included), so no body exceeds ``MAX_BODY_BYTES``. Sizes are measured with the serializer the
bus uses (pydantic-core), so the bound is exact, not estimated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import pydantic_core
from annotated_types import MaxLen
from pcaptotal.access.stamping import OWNER_FIELD, VIS_FIELD
from pcaptotal.messages import (
    MAX_BATCH_FLOWS,
    MAX_BODY_BYTES,
    MAX_RETRACTION_IDS,
    VERDICTS,
    Envelope,
    FlowsEnriched,
    FlowsRetracted,
    FlowVisibility,
    PerVerdict,
    Verdict,
    VerdictTally,
    encode,
    flow_routing_key,
    message_id,
)
from pcaptotal.ports import Bus
from pcaptotal.record_schema import OMITTED_FIELDS as OMITTED_FIELDS
from pcaptotal.record_schema import event_kept_fields

T = TypeVar("T")

# Keeps a flow recognisable, and valid against its schema (the fields it requires), when it alone
# is bigger than a body may be.
_KEEP_ALWAYS = event_kept_fields() | {"network.community_id"}
# Seq written with this many digits sizes the envelope for any batch number a run can reach.
_SEQ_HEADROOM = 10**9
_TRACE_ID_MAX = next(
    m.max_length for m in Envelope.model_fields["trace_id"].metadata if isinstance(m, MaxLen)
)


@dataclass(frozen=True, slots=True)
class Run:
    """The analysis run every event carries."""

    capture_id: str
    analysis_id: Any  # uuid.UUID
    generation: int
    visibility: FlowVisibility = "public"
    owner: str | None = None  # kept only for a private capture

    @classmethod
    def of_capture(cls, capture_id: str, analysis_id: Any, generation: int, doc: Any) -> Run:
        """The run of the capture document ``doc``: private when the upload said so."""
        private = isinstance(doc, dict) and doc.get("visibility") == "private"
        owner = (str(doc.get("owner") or "") or None) if private else None
        vis: FlowVisibility = "private" if private else "public"
        return cls(capture_id, analysis_id, generation, vis, owner)

    def envelope(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "analysis_id": self.analysis_id,
            "generation": self.generation,
            "visibility": self.visibility,
            "owner": self.owner,
        }


def json_size(value: Any) -> int:
    return len(pydantic_core.to_json(value))


def flow_event_id(flow: dict[str, Any]) -> str:
    """The flow's stable id: ``event.id`` once documents carry it, else the index ``_id``
    (both are ``<capture_id>-<flow key>``)."""
    return str(flow.get("event.id") or flow["_id"])


# the reserved id, and the access stamp a flow carries in the index (events go to
# subscribers by their routing key, not by these)
_NOT_PUBLISHED = frozenset({"_id", VIS_FIELD, OWNER_FIELD})


def public_flow(flow: dict[str, Any]) -> dict[str, Any]:
    """The flow as events carry it: ``event.id`` set, the reserved ``_id`` and the index's
    access stamp left out."""
    out = {k: v for k, v in flow.items() if k not in _NOT_PUBLISHED}
    out["event.id"] = flow_event_id(flow)
    return out


def flow_verdict(flow: dict[str, Any]) -> Verdict:
    v = flow.get("pcaptotal.verdict", "clean")
    return v if v in VERDICTS else "clean"


def fit_flow(flow: dict[str, Any], budget: int) -> dict[str, Any]:
    """A flow whose JSON is at most ``budget`` bytes: the largest fields are left out (named
    in ``pcaptotal.omitted_fields``) when the flow alone is too big for one body."""
    if json_size(flow) <= budget:
        return flow
    out = dict(flow)
    omitted: list[str] = []
    by_size = sorted(
        (k for k in flow if k not in _KEEP_ALWAYS), key=lambda k: json_size(flow[k]), reverse=True
    )
    for key in by_size:
        del out[key]
        omitted.append(key)
        out[OMITTED_FIELDS] = sorted(omitted)
        if json_size(out) <= budget:
            break
    return out


def event_json(flow: dict[str, Any]) -> bytes:
    """The flow's JSON as a ``flows.enriched`` batch carries it (``public_flow``), with the
    serialiser the bus uses: made once, where the flow is (``Bus.publish_items``)."""
    return pydantic_core.to_json(public_flow(flow))


def fitted_json(item: bytes, budget: int) -> bytes:
    """``item`` (an ``event_json``) when it is at most ``budget`` bytes; else ``fit_flow``'s
    JSON of it."""
    if len(item) <= budget:
        return item
    return pydantic_core.to_json(fit_flow(pydantic_core.from_json(item), budget))


def envelope_overhead(template: Envelope, items_field: str) -> int:
    """Body bytes of ``template`` with an empty ``items_field`` list, seq, last and the trace
    id the bus may add (``logs.with_trace``) at their widest: what a batch costs before its
    items."""
    fields = template.model_dump()
    widest = {items_field: [], "seq": _SEQ_HEADROOM, "last": False}
    widest["trace_id"] = fields["trace_id"] or "0" * _TRACE_ID_MAX
    probe = template.model_construct(**{**fields, **widest})
    return len(encode(probe))


class BoundedBatcher(Generic[T]):
    """Items into batches of at most ``max_items`` items and a body of at most ``max_bytes``:
    overhead + items + one comma between items; fed one item at a time."""

    def __init__(self, *, overhead: int, max_items: int, max_bytes: int) -> None:
        self._overhead, self._max_items, self._max_bytes = overhead, max_items, max_bytes
        self._batch: list[T] = []
        self._used = overhead

    def add(self, item: T, size: int) -> list[T] | None:
        """Add ``item`` (``size`` bytes); the batch it closed when it did not fit there."""
        full = None
        if self._batch and (
            len(self._batch) >= self._max_items or self._used + 1 + size > self._max_bytes
        ):
            full, self._batch, self._used = self._batch, [], self._overhead
        self._used += size + (1 if self._batch else 0)
        self._batch.append(item)
        return full

    def rest(self) -> list[T]:
        """The open batch (empty when nothing was added since the last one closed)."""
        batch, self._batch, self._used = self._batch, [], self._overhead
        return batch


def iter_bounded_batches(
    items: Iterable[T], size: Callable[[T], int], *, overhead: int, max_items: int, max_bytes: int
) -> Iterator[list[T]]:
    """``BoundedBatcher``'s batches of ``items``, each as soon as it is full, so a caller need
    not hold them all."""
    batcher: BoundedBatcher[T] = BoundedBatcher(
        overhead=overhead, max_items=max_items, max_bytes=max_bytes
    )
    for item in items:
        full = batcher.add(item, size(item))
        if full is not None:
            yield full
    if rest := batcher.rest():
        yield rest


def bounded_batches(
    items: Iterable[T], size: Callable[[T], int], *, overhead: int, max_items: int, max_bytes: int
) -> list[list[T]]:
    return list(
        iter_bounded_batches(
            items, size, overhead=overhead, max_items=max_items, max_bytes=max_bytes
        )
    )


@dataclass(slots=True)
class Published:
    """What one run sent, per verdict (becomes ``capture.analyzed.per_verdict``)."""

    tallies: dict[Verdict, VerdictTally] = field(
        default_factory=lambda: {v: VerdictTally() for v in VERDICTS}
    )

    def add(self, verdict: Verdict, **counts: int) -> None:
        t = self.tallies[verdict]
        self.tallies[verdict] = t.model_copy(
            update={k: getattr(t, k) + n for k, n in counts.items()}
        )

    def per_verdict(self) -> PerVerdict:
        return PerVerdict(**self.tallies)


async def publish_retractions(
    bus: Bus,
    run: Run,
    retracted: dict[Verdict, list[str]],
    published: Published,
    *,
    max_ids: int = MAX_RETRACTION_IDS,
    max_bytes: int = MAX_BODY_BYTES,
) -> None:
    for verdict in VERDICTS:
        ids = retracted.get(verdict, [])
        if not ids:
            continue
        key = flow_routing_key("retracted", verdict, run.visibility)
        template = FlowsRetracted.model_construct(
            **run.envelope(), verdict=verdict, seq=0, last=False, event_ids=[]
        )
        parts = bounded_batches(
            ids,
            json_size,
            overhead=envelope_overhead(template, "event_ids"),
            max_items=max_ids,
            max_bytes=max_bytes,
        )
        for seq, part in enumerate(parts):
            await bus.publish(
                FlowsRetracted(
                    id=message_id(run.analysis_id, key, seq),
                    **run.envelope(),
                    verdict=verdict,
                    seq=seq,
                    last=seq == len(parts) - 1,
                    event_ids=part,
                )
            )
        published.add(verdict, retracted_flows=len(ids), retraction_batches=len(parts))


async def publish_enriched(
    bus: Bus,
    run: Run,
    flows: Iterable[dict[str, Any]],
    published: Published,
    *,
    max_flows: int = MAX_BATCH_FLOWS,
    max_bytes: int = MAX_BODY_BYTES,
) -> None:
    """Publish every flow once, grouped by verdict, in bounded batches."""
    publisher = EnrichedPublisher(bus, run, published, max_flows=max_flows, max_bytes=max_bytes)
    for flow in flows:
        await publisher.add(flow)
    await publisher.finish()


class EnrichedPublisher:
    """``flows.enriched.<verdict>`` batches of flows handed over one at a time, verdicts in
    any order, so a caller streaming flows from a file never holds more than a few batches.
    Per verdict, a full batch is published once the next has started (so that the last one
    is marked ``last``); ``finish`` publishes the rest and tallies each verdict's."""

    def __init__(
        self,
        bus: Bus,
        run: Run,
        published: Published,
        *,
        max_flows: int = MAX_BATCH_FLOWS,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._published = published
        self._lanes = {
            v: _Lane(bus, run, v, published, max_flows=max_flows, max_bytes=max_bytes)
            for v in VERDICTS
        }

    async def add(self, flow: dict[str, Any]) -> None:
        await self._lanes[flow_verdict(flow)].add(event_json(flow))

    async def add_json(self, verdict: Verdict, item: bytes) -> None:
        """A flow of ``verdict`` as its ``event_json`` (made where the flow was)."""
        await self._lanes[verdict].add(item)

    async def finish(self) -> PerVerdict:
        """Publish the rest; what the run sent, these batches and whatever else went into
        its ``Published``."""
        for lane in self._lanes.values():
            await lane.finish()
        return self._published.per_verdict()


class _Lane:
    """One verdict's batches."""

    def __init__(
        self,
        bus: Bus,
        run: Run,
        verdict: Verdict,
        published: Published,
        *,
        max_flows: int,
        max_bytes: int,
    ) -> None:
        self._bus, self._run, self._verdict, self._published = bus, run, verdict, published
        self._key = flow_routing_key("enriched", verdict, run.visibility)
        # validated once (the run's fields); each batch is a copy with its own id, seq and time
        self._template = FlowsEnriched(
            **run.envelope(), verdict=verdict, seq=0, last=False, flows=[{}]
        ).model_copy(update={"flows": []})
        overhead = envelope_overhead(self._template, "flows")
        self._budget = max_bytes - overhead  # for one flow alone
        self._batcher: BoundedBatcher[bytes] = BoundedBatcher(
            overhead=overhead, max_items=max_flows, max_bytes=max_bytes
        )
        self._full: list[bytes] | None = None  # waits to learn whether it is the last
        self._seq = self._count = 0

    async def add(self, item: bytes) -> None:
        item = fitted_json(item, self._budget)
        full = self._batcher.add(item, len(item))
        if full is not None:
            if self._full is not None:
                await self._send(self._full, last=False)
            self._full = full

    async def finish(self) -> None:
        rest = self._batcher.rest()
        if self._full is not None:
            await self._send(self._full, last=not rest)
        if rest:
            await self._send(rest, last=True)
        self._full = None
        self._published.add(self._verdict, flows=self._count, batches=self._seq)

    async def _send(self, items: list[bytes], *, last: bool) -> None:
        event = self._template.model_copy(
            update={
                "id": message_id(self._run.analysis_id, self._key, self._seq),
                "time": datetime.now(UTC),
                "seq": self._seq,
                "last": last,
            }
        )
        await self._bus.publish_items(event, "flows", items)
        self._seq += 1
        self._count += len(items)
