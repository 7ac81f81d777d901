"""The three ports every service talks through. Adapters live in ``pcaptotal.adapters``.

Each port has an embedded adapter (one machine, no servers) and a production adapter; both pass
the same contract suite in ``tests/contract``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pcaptotal.messages import Envelope, Event

if TYPE_CHECKING:
    from pcaptotal.prepared import PreparedRecord
    from pcaptotal.query import ValidatedQuery
    from pcaptotal.views import Agg, Aggregations, Page


class BlobNotFound(KeyError):
    """The key is not in the blob store."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of one event to one subscriber queue."""

    event: Event
    attempt: int  # 1 on first delivery
    max_attempts: int
    # Set on deliveries from a dead-letter queue: why the broker gave up on the message.
    dead_reason: str | None = None

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[Delivery], Awaitable[None]]


class Bus(Protocol):
    """Topic pub/sub with at-least-once delivery to named, competing-consumer queues.

    A handler that returns acks the message; one that raises gets it redelivered until
    ``max_attempts``, after which it is dead-lettered (never silently dropped).
    """

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, event: Envelope, routing_key: str | None = None) -> None: ...
    async def publish_items(
        self,
        event: Envelope,
        field: str,
        items: Sequence[bytes],
        routing_key: str | None = None,
    ) -> None:
        """``publish`` of ``event`` with its list ``field`` (empty in ``event``, its last
        field) holding ``items``, each one item's JSON already (``messages.encode_items``)."""
        ...

    async def subscribe(
        self, queue: str, bindings: Sequence[str], handler: Handler, *, prefetch: int = 4
    ) -> None: ...
    async def subscribe_dead_letters(self, queue: str, handler: Handler) -> None:
        """Consume what ``queue`` dead-lettered (``Delivery.dead_reason`` says why), so no
        message ends there unexplained. The handler's return acks it; raising retries it."""
        ...

    async def ping(self) -> bool:
        """Whether the bus can take a publish right now (readiness)."""
        ...

    async def stop_consuming(self) -> None:
        """Stop taking new deliveries and wait for in-flight handlers to finish."""
        ...


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)


class BlobStore(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def put_file(
        self, key: str, path: Path, *, metadata: dict[str, str] | None = None
    ) -> None: ...
    async def put_bytes(
        self, key: str, data: bytes, *, metadata: dict[str, str] | None = None
    ) -> None: ...
    async def get_to_file(self, key: str, path: Path) -> None: ...
    async def get_bytes(self, key: str) -> bytes: ...
    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...
    async def stat(self, key: str) -> BlobInfo | None: ...
    async def delete(self, key: str) -> None: ...
    async def list_keys(self, prefix: str = "") -> list[str]: ...


@dataclass(slots=True)
class SearchResult:
    total: int
    hits: list[dict[str, Any]]
    # continues after the last hit (``search_page``'s cursor); None when no hit is left
    cursor: str | None = None
    # with ``search_flows(raw=True)``: each hit as JSON (UTF-8), in place of ``hits``, for an
    # answer that embeds them as they are (no parse, no re-serialisation)
    raw: list[bytes] | None = None


CaptureChange = Callable[[dict[str, Any] | None], dict[str, Any] | None]


class CaptureConflict(RuntimeError):
    """A capture document kept changing under a read-modify-write (``change_capture``)."""


class Index(Protocol):
    """Documents: one capture document per upload, and the capture's records in one index
    family: ``event.dataset`` = flow (one per connection), dns, http, tls, file, finding.

    Records are dicts keyed by the ECS names of ``pcaptotal.fields`` (flat dotted keys, or
    objects / arrays of objects under a prefix, read as Elasticsearch reads them). Each has a
    deterministic ``event.id`` (``<capture_id>-<record key>``; a flow's is
    ``<capture_id>-<flow_key>``), which is its document id. Writes are durable and visible on
    return. (The ``*_flows`` method names predate the other record kinds; they take every kind.)
    """

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...
    async def put_capture(self, doc: dict[str, Any]) -> None: ...
    async def get_capture(self, capture_id: str) -> dict[str, Any] | None: ...
    async def change_capture(self, capture_id: str, change: CaptureChange) -> dict[str, Any] | None:
        """Read-modify-write of one capture document, atomic against every other writer of
        it: ``change`` gets the stored document (a fresh copy, or None) and returns the one to
        store (None: store nothing). It may run more than once (after a concurrent write), so
        it only computes. Returns what was stored, or None. Raises ``CaptureConflict`` when
        other writes keep winning."""
        ...

    async def delete_capture(self, capture_id: str) -> None:
        """Remove the capture document (its records go with ``delete_flows``); no error when
        there is none."""
        ...

    async def find_captures(
        self,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        *,
        updated_since: datetime | None = None,
        verdicts: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Newest (by ``created``) first. Each given filter must hold: ``status`` in
        ``statuses``, ``updated >= updated_since`` (naive datetimes are UTC), ``verdict`` in
        ``verdicts``; an empty sequence matches nothing."""
        ...

    async def add_flows(self, docs: Sequence[dict[str, Any]]) -> None:
        """Upsert records by ``event.id``."""
        ...

    # Which ``pcaptotal.adapters.record_formats`` encoding ``add_prepared`` reads.
    record_format: str

    async def add_prepared(self, records: Sequence[PreparedRecord]) -> None:
        """``add_flows`` of the records, each with the encoding ``record_format`` names made
        ahead of time (in another process): the write then skips building the index's
        document. A record whose encoding is None is written as ``add_flows`` writes it."""
        ...

    async def delete_flows(self, capture_id: str) -> None: ...
    async def get_flow(self, doc_id: str) -> dict[str, Any] | None: ...
    async def search_flows(
        self,
        query: ValidatedQuery,
        *,
        capture_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        datasets: Sequence[str] | None = None,
        raw: bool = False,
    ) -> SearchResult:
        """Records matching ``query`` (and the capture, and ``event.dataset`` in
        ``datasets`` when given), oldest ``@timestamp`` first, ties by ``event.id``. The
        result's ``cursor`` (when hits are left past the page) is the one ``search_page``
        takes to go on from the page's last hit. ``raw``: the hits as JSON in ``raw``."""
        ...

    async def search_page(
        self,
        query: ValidatedQuery,
        *,
        capture_id: str | None = None,
        datasets: Sequence[str] | None = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """One page of the records matching ``query`` (restricted as ``search_flows``), by
        ``sort`` (a single-valued date/number field, ``-name`` for descending; default
        ``@timestamp``) then ``event.id``; records without the sort value come last. The
        page's ``cursor`` continues after its last hit (search_after-style), None when no
        hit is left after the page. QueryError for a bad sort or cursor."""
        ...

    async def aggregate(
        self,
        query: ValidatedQuery,
        aggs: Mapping[str, Agg],
        *,
        capture_id: str | None = None,
        datasets: Sequence[str] | None = None,
        capture_ids: Sequence[str] | None = None,
    ) -> Aggregations:
        """Terms buckets and date histograms over the matching records (see
        ``pcaptotal.views``); ``capture_ids`` restricts to those captures (empty: none)."""
        ...
