"""Transient errors are waited out with backoff; permanent ones fail at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.ports import BlobNotFound
from pcaptotal.resilience import (
    DependencyUnavailable,
    call_with_retry,
    is_transient,
    redelivery_delay,
    retrying,
)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (ConnectionResetError(104, "reset"), True),
        (TimeoutError(), True),
        (OSError(113, "no route to host"), True),
        (OSError(28, "no space left"), False),
        (FileNotFoundError(2, "gone"), False),
        (BlobNotFound("captures/x"), False),
        (ValueError("bad key"), False),
        (RuntimeError("bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_library_errors_are_classified() -> None:
    import urllib3
    from minio.error import S3Error

    assert is_transient(urllib3.exceptions.MaxRetryError(None, "/", None))  # type: ignore[arg-type]
    slow = S3Error(None, "SlowDown", "slow", "r", "id", "host")  # type: ignore[arg-type]
    denied = S3Error(None, "AccessDenied", "no", "r", "id", "host")  # type: ignore[arg-type]
    assert is_transient(slow) and not is_transient(denied)


async def test_outage_shorter_than_the_budget_is_waited_out() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 4:
            raise ConnectionRefusedError(111, "refused")
        return "ok"

    assert await call_with_retry("blob store", 30, flaky, max_wait_s=0.2) == "ok"
    assert len(calls) == 4


async def test_outage_longer_than_the_budget_is_dependency_unavailable() -> None:
    async def down() -> None:
        raise ConnectionRefusedError(111, "refused")

    start = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="index"):
        await call_with_retry("index", 0.5, down, max_wait_s=0.1)
    assert time.monotonic() - start < 3


async def test_permanent_error_is_not_retried() -> None:
    calls = 0

    async def bad() -> None:
        nonlocal calls
        calls += 1
        raise BlobNotFound("captures/x")

    with pytest.raises(BlobNotFound):
        await call_with_retry("blob store", 30, bad)
    assert calls == 1


async def test_retrying_adapter_keeps_its_behaviour(tmp_path: Path) -> None:
    store = retrying(FileBlobStore(tmp_path), "blob store", 1.0)
    await store.start()
    await store.put_bytes("a/b", b"xyz", metadata={"k": "v"})
    assert await store.get_bytes("a/b") == b"xyz"
    assert [c async for c in store.iter_chunks("a/b")] == [b"xyz"]
    info = await store.stat("a/b")
    assert info is not None and info.size == 3
    with pytest.raises(BlobNotFound):
        await store.get_bytes("missing")
    # Wrapping twice does not stack retries.
    assert retrying(store, "x", 1.0).unwrapped is store.unwrapped  # type: ignore[attr-defined]


def test_redelivery_delays_grow_and_are_jittered() -> None:
    first = [redelivery_delay(1) for _ in range(200)]
    third = [redelivery_delay(3) for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in first)
    assert all(4.0 <= d <= 8.0 for d in third)
    assert len(set(first)) > 100  # jittered, not lockstep
    assert max(redelivery_delay(50) for _ in range(50)) <= 60.0


async def test_cancellation_is_not_swallowed() -> None:
    async def slow() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(call_with_retry("bus", 30, slow))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
