"""Prometheus metrics every service exposes on ``GET /metrics`` (workers included).

Names are the contract with deploy/k8s/monitoring (dashboard, alerts): a test checks that
every metric those reference is defined here. Labels are bounded sets (route templates, not
paths; feed names, not indicators), never capture ids or contents.
"""

from __future__ import annotations

import resource
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SLOW = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

HTTP_SECONDS = Histogram(
    "pcaptotal_http_request_duration_seconds",
    "HTTP request latency by route template and status",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
CAPTURE_STATUS = Counter(
    "pcaptotal_capture_status_transitions_total",
    "Capture status changes written by this process",
    ["status"],
)
UPLOADS = Counter(
    "pcaptotal_uploads_total",
    "Uploads answered by ingest: new (queued), duplicate (already known) or rejected",
    ["outcome"],
)
STAGE_SECONDS = Histogram(
    "pcaptotal_stage_seconds",
    "Time a pipeline stage took for one capture (store, parse, enrich, index)",
    ["stage"],
    buckets=_SLOW,
)
TSHARK_SECONDS = Histogram(
    "pcaptotal_tshark_seconds", "Wall-clock time of one tshark run", buckets=_SLOW
)
TSHARK_PEAK_RSS = Gauge(
    "pcaptotal_tshark_peak_rss_bytes",
    "Peak resident memory of the largest tshark this process ran (children's ru_maxrss)",
)
PACKETS_PARSED = Counter("pcaptotal_packets_parsed_total", "Packets in captures parsed")
BYTES_PARSED = Counter("pcaptotal_bytes_parsed_total", "Captured bytes in captures parsed")
INTEL_HITS = Counter("pcaptotal_intel_hits_total", "Flows matched by a threat-intel feed", ["feed"])
INDEX_WRITER_DIED = Counter(
    "pcaptotal_index_writer_died_total",
    "Writes of the embedded index made again because its writer process ended during them",
)
BULK_INDEX_ERRORS = Counter(
    "pcaptotal_index_bulk_errors_total", "Documents a bulk index request rejected"
)
BUS_CONSUMED = Counter(
    "pcaptotal_bus_consumed_total", "Messages received by this process's consumers", ["queue"]
)
BUS_DELIVERIES = Counter(
    "pcaptotal_bus_deliveries_total",
    "Messages handled by this process's consumers",
    ["queue", "outcome"],  # outcome: ack | retry (nack, requeued) | dead (dead-lettered)
)
BUS_PUBLISHED = Counter(
    "pcaptotal_bus_published_total",
    "Events published (ok) or refused by the broker/timed out (error)",
    ["type", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "pcaptotal_queue_depth_messages",
    "Messages ready in a work queue, as last seen by a worker consuming it",
    ["queue"],
)
RECONCILE_ACTIONS = Counter(
    "pcaptotal_reconcile_actions_total",
    "Reconciler actions: outbox relays, re-drives and failures of stuck captures",
    ["action"],
)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class _HttpMetrics:
    """ASGI middleware: latency by route template (``scope["route"]`` set by the router)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_SECONDS.labels(self.service, scope["method"], template, str(status)).observe(
                time.perf_counter() - start
            )


def instrument_http(app: Any, service: str) -> None:
    """Record every request of ``app`` (a Starlette/FastAPI app) in HTTP_SECONDS."""
    app.add_middleware(_HttpMetrics, service=service)


def count_intel_hits(flows: list[dict[str, Any]]) -> None:
    """One hit per flow and feed that matched it (``threat.enrichments.indicator.provider``)."""
    for flow in flows:
        hits = flow.get("threat.enrichments")
        if not isinstance(hits, list):
            continue
        feeds = {
            str(h["indicator"].get("provider"))
            for h in hits
            if isinstance(h, dict) and isinstance(h.get("indicator"), dict)
        }
        for feed in sorted(feeds):
            INTEL_HITS.labels(feed).inc()


def observe_parse(packets: int, size: int, tshark_seconds: float) -> None:
    PACKETS_PARSED.inc(packets)
    BYTES_PARSED.inc(size)
    TSHARK_SECONDS.observe(tshark_seconds)
    # ru_maxrss of reaped children (KiB on Linux): the largest tshark this process ran.
    TSHARK_PEAK_RSS.set(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
