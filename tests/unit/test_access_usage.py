"""Per-key usage and upload quotas (``pcaptotal.access.usage``) over a real file blob store:
two ledgers on one store stand for two replicas; the clocks are fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import HTTPException
from pcaptotal.access.identity import Identity
from pcaptotal.access.roles import Role
from pcaptotal.access.usage import UploadQuota, UsageLedger, seconds_to_midnight
from pcaptotal.adapters.file_blobstore import FileBlobStore

ALICE = Identity("alice", Role.SUBMITTER, "a" * 16)
BOB = Identity("bob", Role.SUBMITTER, "b" * 16)
ADMIN = Identity("root", Role.ADMIN, "c" * 16)
LOCAL = Identity("local", Role.ADMIN, None)  # auth off
NOON = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clocks:
    def __init__(self) -> None:
        self.now = NOON
        self.mono = 0.0


def _ledgers(
    tmp: Path, quota: UploadQuota, n: int = 2
) -> tuple[Clocks, FileBlobStore, list[UsageLedger]]:
    clocks = Clocks()
    blobs = FileBlobStore(tmp)
    made = [
        UsageLedger(
            blobs, quota, flush_s=10, clock=lambda: clocks.now, monotonic=lambda: clocks.mono
        )
        for _ in range(n)
    ]
    return clocks, blobs, made


def test_upload_quota_holds_across_replicas_and_says_when_to_retry(tmp_path: Path) -> None:
    clocks, _, (one, two) = _ledgers(tmp_path, UploadQuota(3, 0, True))

    async def go() -> None:
        await one.record_upload(ALICE, 100)
        await two.record_upload(ALICE, 100)
        await one.record_upload(ALICE, 100)
        for ledger in (one, two):  # the fourth, on either replica
            with pytest.raises(HTTPException) as exc:
                await ledger.record_upload(ALICE, 100)
            assert exc.value.status_code == 429
            assert getattr(exc.value, "kind", None) == "upload-quota-exceeded"
            assert exc.value.headers == {"Retry-After": str(12 * 3600)}
            with pytest.raises(HTTPException):
                await ledger.check_upload(ALICE)  # refused before a byte is read
        await two.record_upload(BOB, 100)  # another key counts on its own
        await one.record_upload(ADMIN, 100)  # admins are exempt
        assert (await two.totals(ALICE.key_id or "")).uploads == 3  # the refusals not counted
        clocks.now = NOON + timedelta(hours=12)  # the next UTC day starts from zero
        await one.record_upload(ALICE, 100)
        assert (await two.totals(ALICE.key_id or "")).uploads == 1

    asyncio.run(go())


def test_byte_quota_and_admins_when_not_exempt(tmp_path: Path) -> None:
    _, _, (one, two) = _ledgers(tmp_path, UploadQuota(0, 1000, False))

    async def go() -> None:
        await one.record_upload(ADMIN, 600)
        await one.check_upload(ADMIN)  # 400 bytes left: an upload may start
        with pytest.raises(HTTPException) as exc:
            await two.record_upload(ADMIN, 401)
        assert "1000 bytes" in str(exc.value.detail)
        await two.record_upload(ADMIN, 400)
        with pytest.raises(HTTPException):
            await one.check_upload(ADMIN, 1)
        for _ in range(5):  # auth off: no key to count against
            await one.record_upload(LOCAL, 10_000)

    asyncio.run(go())


def test_requests_are_written_at_most_every_flush_interval(tmp_path: Path) -> None:
    clocks, blobs, (one, two) = _ledgers(tmp_path, UploadQuota(0, 0, True))
    key = ALICE.key_id or ""

    async def go() -> None:
        for _ in range(5):
            await one.count_request(key)
        assert (await one.totals(key)).requests == 5  # its own, unwritten ones too
        assert (await two.totals(key)).requests == 1  # the first was written at once
        clocks.mono += 10
        await one.count_request(key)
        await two.count_request(key)
        assert (await two.totals(key)).requests == 7
        assert len(await blobs.list_keys("usage/2026-03-01/")) == 2  # one blob per replica

    asyncio.run(go())


def test_a_restarted_process_keeps_the_days_count(tmp_path: Path) -> None:
    _, blobs, (old,) = _ledgers(tmp_path, UploadQuota(2, 0, True), n=1)
    asyncio.run(old.record_upload(ALICE, 1))
    asyncio.run(old.record_upload(ALICE, 1))
    new = UsageLedger(blobs, UploadQuota(2, 0, True), clock=lambda: NOON)
    with pytest.raises(HTTPException):
        asyncio.run(new.record_upload(ALICE, 1))


def test_seconds_to_midnight() -> None:
    assert seconds_to_midnight(NOON) == 43_200
    assert seconds_to_midnight(datetime(2026, 3, 1, 23, 59, 59, 500_000, tzinfo=UTC)) == 1


def test_counters_of_old_days_are_removed(tmp_path: Path) -> None:
    clocks, blobs, (one,) = _ledgers(tmp_path, UploadQuota(0, 0, True), n=1)

    async def go() -> list[str]:
        await one.record_upload(ALICE, 1)
        clocks.now = NOON + timedelta(days=7)  # still kept: seven days back
        await one.record_upload(ALICE, 1)
        clocks.now = NOON + timedelta(days=8)  # the first day is now too old
        await one.record_upload(ALICE, 1)
        return sorted({k.split("/")[1] for k in await blobs.list_keys("usage/")})

    assert asyncio.run(go()) == ["2026-03-08", "2026-03-09"]
