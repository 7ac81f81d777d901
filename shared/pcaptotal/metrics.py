"""Prometheus metrics every service exposes on ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CAPTURE_STATUS = Counter(
    "pcaptotal_capture_status_transitions_total",
    "Capture status changes written by this process",
    ["status"],
)
STAGE_SECONDS = Histogram(
    "pcaptotal_stage_seconds",
    "Time a pipeline stage took for one capture",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
BUS_DELIVERIES = Counter(
    "pcaptotal_bus_deliveries_total",
    "Messages handled by this process's consumers",
    ["queue", "outcome"],  # outcome: ack | retry | dead
)
