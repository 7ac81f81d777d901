"""Logs are JSON lines (ours and the libraries'), noisy libraries are held at WARNING, a trace
id travels from the request through the envelope to the consumer's log lines, and the HTTP
metrics label routes by template. The gateway routes by method and path."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pcaptotal.adapters.memory_bus import MemoryBus
from pcaptotal.logs import QUIET_LOGGERS, TraceMiddleware, capture_context, configure_logging
from pcaptotal.messages import CaptureStored, decode
from pcaptotal.metrics import HTTP_SECONDS, instrument_http
from pcaptotal.ports import Delivery
from pcaptotal_runner.gateway import GatewaySettings, upstream_for

CID = "ab" * 32


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Any:
    """Call it once to configure logging onto the captured stderr, again to read the lines."""
    state = {"configured": False}

    def logs() -> list[dict[str, Any]]:
        if not state["configured"]:
            configure_logging("INFO")  # in the test body: binds the test's captured stderr
            # No logger may keep this test's stream after it ends.
            structlog.configure(cache_logger_on_first_use=False)
            state["configured"] = True
            return []
        return [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]

    yield logs
    logging.getLogger().handlers[:] = []
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_library_and_uvicorn_lines_are_json_and_quiet(json_logs: Any) -> None:
    json_logs()
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    logging.getLogger("elastic_transport.transport").info("POST http://es:9200/_bulk [200]")
    logging.getLogger("aio_pika").warning("connection lost")
    with capture_context(CID, "t" * 32):
        structlog.get_logger("x").info("capture parsed", packets=3)
    lines = json_logs()
    assert [line["event"] for line in lines] == [
        "Started server process [1]",
        "connection lost",  # INFO from the ES client is dropped, WARNING kept
        "capture parsed",
    ]
    assert lines[0]["logger"] == "uvicorn.error" and lines[0]["level"] == "info"
    assert lines[2] == {**lines[2], "capture_id": CID, "trace_id": "t" * 32, "packets": 3}
    for name in QUIET_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name


async def test_trace_id_travels_through_the_envelope_to_the_consumer(json_logs: Any) -> None:
    json_logs()
    bus = MemoryBus()
    await bus.start()
    seen: list[tuple[str | None, dict[str, Any]]] = []

    async def handler(delivery: Delivery) -> None:
        seen.append((delivery.event.trace_id, structlog.contextvars.get_contextvars()))
        structlog.get_logger("worker").info("handled")

    await bus.subscribe("parser", ["capture.stored"], handler)
    event = CaptureStored(capture_id=CID, analysis_id=uuid.uuid4(), generation=1, size=1)
    with structlog.contextvars.bound_contextvars(trace_id="f" * 32):
        await bus.publish(event)  # published during a request: takes the request's trace id
    await bus.publish(event)  # no trace bound: none invented
    await asyncio.wait_for(bus.wait_idle(), 5)
    await bus.close()
    assert [t for t, _ in seen] == ["f" * 32, None]
    assert seen[0][1] == {"capture_id": CID, "trace_id": "f" * 32}
    assert seen[1][1] == {"capture_id": CID}
    handled = [line for line in json_logs() if line["event"] == "handled"]
    assert [line.get("trace_id") for line in handled] == ["f" * 32, None]


def test_old_messages_without_trace_id_still_decode() -> None:
    event = CaptureStored(capture_id=CID, analysis_id=uuid.uuid4(), generation=1, size=1)
    body = json.loads(event.model_dump_json())
    del body["trace_id"]
    assert decode(body).trace_id is None


def test_request_trace_id_from_traceparent_or_new_and_route_templates() -> None:
    app = FastAPI()

    @app.get("/v1/captures/{cid}")
    async def get(cid: str) -> dict[str, Any]:
        return {"trace": structlog.contextvars.get_contextvars().get("trace_id")}

    instrument_http(app, "unit")
    app.add_middleware(TraceMiddleware)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    labels = {"service": "unit", "method": "GET", "route": "/v1/captures/{cid}", "status": "200"}
    before = HTTP_SECONDS.labels(**labels)._sum.get()
    with TestClient(app) as client:
        r = client.get("/v1/captures/x", headers={"traceparent": parent})
        assert r.json()["trace"] == "0af7651916cd43dd8448eb211c80319c"
        assert r.headers["x-request-id"] == "0af7651916cd43dd8448eb211c80319c"
        fresh = client.get("/v1/captures/y").json()["trace"]
        assert len(fresh) == 32 and fresh != r.json()["trace"]
        bad = client.get("/v1/captures/z", headers={"x-request-id": "a b\n"}).json()["trace"]
        assert bad != "a b\n"  # not echoed into logs: a new id instead
        assert client.get("/nope").status_code == 404
    assert HTTP_SECONDS.labels(**labels)._sum.get() > before
    samples = {
        s.labels["route"]
        for m in HTTP_SECONDS.collect()
        for s in m.samples
        if s.labels.get("service") == "unit"
    }
    assert samples == {"/v1/captures/{cid}", "unmatched"}  # templates, never raw paths


@pytest.mark.parametrize(
    ("method", "path", "upstream"),
    [
        ("POST", "/v1/captures", "ingest"),
        ("POST", "/v1/captures/", "ingest"),
        ("GET", "/v1/captures", "search"),
        ("GET", "/v1/captures/abc", "search"),
        ("POST", "/v1/captures/abc/reanalyze", "search"),
        ("GET", "/v1/search", "search"),
        ("GET", "/v1/intel/feeds", "intel"),
        ("POST", "/v1/intel/feeds", "intel"),
        ("DELETE", "/v1/intel/feeds/x", "intel"),
        ("GET", "/v1/intelligence", "search"),
    ],
)
def test_gateway_routes_by_method_and_path(method: str, path: str, upstream: str) -> None:
    s = GatewaySettings(
        gateway_ingest_url="ingest", gateway_search_url="search", gateway_intel_url="intel"
    )
    assert upstream_for(method, path, s) == upstream
