"""Transient versus permanent errors, and retrying the blob store and index through outages.

A worker that meets a blob-store or index outage should wait it out (exponential backoff with
jitter, for minutes), not burn its delivery attempts in a second and fail captures for good.
An HTTP request should wait only briefly and then answer 503 with ``Retry-After``. Both get
the same adapters, wrapped with a different time budget (``retrying``).

Every Index and BlobStore operation is idempotent (puts overwrite, ids are deterministic), so
retrying one that may have landed is safe.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Calls that must answer at once (readiness) or that own the adapter's life: never retried.
_NOT_RETRIED = frozenset({"start", "close", "ping"})
# S3 error codes a server uses for overload or a passing fault.
_S3_TRANSIENT = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "ServerBusy"}
)


class DependencyUnavailable(RuntimeError):
    """A backing service (blob store, index, bus) stayed unreachable for the whole retry
    budget. HTTP handlers answer it with 503 and ``Retry-After``."""

    def __init__(self, what: str, cause: BaseException | None = None) -> None:
        detail = f": {type(cause).__name__}" if cause is not None else ""
        super().__init__(f"{what} is unavailable{detail}; try again shortly")
        self.what = what


def is_transient(exc: BaseException) -> bool:
    """Errors that mean "the other side is not there right now", not "this input is bad"."""
    if isinstance(exc, DependencyUnavailable):
        return True
    if isinstance(exc, KeyError | ValueError | TypeError | PermissionError):
        return False  # missing blob, bad key, bad query, programming error: retrying won't help
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, OSError):
        return exc.errno is not None and exc.errno in _TRANSIENT_ERRNOS
    return _is_transient_library_error(exc)


def _is_transient_library_error(exc: BaseException) -> bool:
    # Imported lazily: not every process has every client library loaded.
    name = type(exc).__module__.split(".")[0]
    if name == "urllib3":
        return True  # MaxRetryError, ProtocolError, NewConnectionError: transport faults
    if name == "minio":
        from minio.error import S3Error, ServerError

        if isinstance(exc, ServerError):
            return exc.status_code >= 500
        return isinstance(exc, S3Error) and exc.code in _S3_TRANSIENT
    if name in ("elastic_transport", "elasticsearch"):
        from elastic_transport import ConnectionError as EsConnectionError
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError

        if isinstance(exc, EsConnectionError | ConnectionTimeout):
            return True
        return isinstance(exc, ApiError) and exc.meta.status in (429, 502, 503, 504)
    return name in ("aio_pika", "aiormq", "pamqp")


_TRANSIENT_ERRNOS = frozenset({104, 110, 111, 112, 113, 32, 103, 101})  # reset, timeout, refused…


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "transient error, retrying",
            dependency=what,
            attempt=state.attempt_number,
            error=repr(exc),
            sleep_s=round(state.upcoming_sleep, 2),
        )

    return before_sleep


async def call_with_retry(
    what: str, budget_s: float, fn: Callable[[], Awaitable[T]], *, max_wait_s: float = 30.0
) -> T:
    """``fn()`` retried on transient errors for up to ``budget_s`` seconds; when the budget
    runs out the last error becomes ``DependencyUnavailable``."""
    # The first attempt runs outside tenacity: nearly every call succeeds at once, and a
    # retry loop per call was ~10 % of a capture GET's CPU. A transient failure joins the
    # loop below as its first attempt (same waits, logs and budget, counted from the start).
    started = time.monotonic()
    try:
        return await fn()
    except Exception as exc:
        if not is_transient(exc):
            raise
        first: Exception | None = exc

    async def attempt_fn() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await fn()

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=0.25, max=max(0.25, min(max_wait_s, budget_s))),
        stop=stop_after_delay(max(0.0, budget_s - (time.monotonic() - started))),
        before_sleep=_log_retry(what),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await attempt_fn()
    except Exception as exc:
        if is_transient(exc) and not isinstance(exc, DependencyUnavailable):
            raise DependencyUnavailable(what, exc) from exc
        raise
    raise AssertionError("unreachable")  # pragma: no cover


def redelivery_delay(attempt: int, base_s: float = 2.0, cap_s: float = 60.0) -> float:
    """Pause before a failed delivery goes back to the broker: exponential with equal jitter
    (half fixed, half random), so a fault that outlived the adapters' own retries does not
    burn every attempt at once and workers do not retry in lockstep."""
    step: float = min(cap_s, base_s * 2.0 ** max(0, attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


class _Retrying:
    """Forwards every attribute of an adapter; its coroutine methods retry transient errors.

    A dynamic proxy rather than one wrapper per port: it stays right when a port grows a
    method. Async generators (``iter_chunks``) are passed through: a stream cannot be replayed
    half-way, so its caller's stage is retried as a whole.
    """

    def __init__(self, inner: object, what: str, budget_s: float) -> None:
        self._inner = inner
        self._what = what
        self._budget_s = budget_s

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in _NOT_RETRIED or not inspect.iscoroutinefunction(attr):
            return attr

        async def retried(*args: Any, **kwargs: Any) -> Any:
            return await call_with_retry(
                f"{self._what} ({name})", self._budget_s, lambda: attr(*args, **kwargs)
            )

        return retried

    @property
    def unwrapped(self) -> object:
        return self._inner


def retrying(inner: T, what: str, budget_s: float) -> T:
    """``inner`` with its coroutine methods retried for ``budget_s`` seconds (typed as itself)."""
    if isinstance(inner, _Retrying):
        inner = inner.unwrapped  # type: ignore[assignment]
    proxy: Any = _Retrying(inner, what, budget_s)
    return proxy  # type: ignore[no-any-return]
