"""structlog set-up: JSON lines (readable lines on a terminal) for our loggers AND the standard
library's (uvicorn, aio-pika, elasticsearch...), which go through the same processors.

Correlation: ``capture_context`` binds ``capture_id`` and ``trace_id`` into structlog's
contextvars, so every line logged while handling a capture carries them, in every service.
Never log capture contents, blob keys' secrets or credentials: ids and counts only.
"""

from __future__ import annotations

import logging
import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import structlog
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

E = TypeVar("E", bound=BaseModel)
_TRACE_RE = re.compile(r"[0-9a-f]{32}")
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Client libraries log every request at INFO (elasticsearch, elastic_transport, urllib3) and
# uvicorn every access: metrics cover those; keep warnings and errors.
QUIET_LOGGERS = (
    "uvicorn.access",
    "elasticsearch",
    "elastic_transport",
    "elastic_transport.transport",
    "urllib3",
    "aio_pika",
    "aiormq",
    "httpx",
    "httpcore",
    "minio",
    "asyncio",
)


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "INFO") -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(lvl)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print plain text; ours (via the root) print JSON.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(lvl, logging.WARNING))
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


@contextmanager
def capture_context(capture_id: str, trace_id: str | None) -> Iterator[None]:
    """Bind the capture's correlation keys for every log line in this block (and tasks it
    starts, which copy the context)."""
    keys = {"capture_id": capture_id}
    if trace_id:
        keys["trace_id"] = trace_id
    with structlog.contextvars.bound_contextvars(**keys):
        yield


def current_trace_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("trace_id")
    return value if isinstance(value, str) else None


def with_trace(event: E) -> E:
    """``event`` carrying the trace id of the work that publishes it (if it has none)."""
    trace = current_trace_id()
    if trace is None or getattr(event, "trace_id", "") is not None:
        return event
    return event.model_copy(update={"trace_id": trace})


def new_trace_id() -> str:
    # 128 random bits as W3C trace ids are; not a secret, so no system call per request
    # (``random`` reseeds in a forked child)
    return f"{random.getrandbits(128):032x}"


def _trace_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """W3C ``traceparent``'s trace-id, else ``X-Request-ID`` (bounded, printable)."""
    found: dict[bytes, bytes] = dict(headers)
    parent = found.get(b"traceparent", b"").decode("latin-1").split("-")
    if len(parent) == 4 and _TRACE_RE.fullmatch(parent[1]):
        return parent[1]
    rid = found.get(b"x-request-id", b"").decode("latin-1")
    return rid if _REQUEST_ID_RE.fullmatch(rid) else None


class TraceMiddleware:
    """ASGI: one trace id per request (the caller's ``traceparent``/``X-Request-ID`` or a new
    one), bound for every log line of the request and echoed as ``X-Request-ID``; events the
    request publishes carry it (``with_trace``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = _trace_from_headers(scope.get("headers", [])) or new_trace_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", trace.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(trace_id=trace):
            await self.app(scope, receive, send_with_id)
