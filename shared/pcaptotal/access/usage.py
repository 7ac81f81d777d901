"""Per-key usage: requests made and uploads (count and bytes) per UTC day, and the upload quota.

Counters live in the BlobStore, so every service and every replica of a cluster sees the same
totals: each process writes its own counter blob per key and day,
``usage/<day>/<key id>/<replica>.json`` (``{"requests", "uploads", "upload_bytes"}``), and a
total is the sum of the replicas' blobs. Nobody writes another process's blob, so there are no
lost updates; a process that restarts starts a new blob and the old one still counts.

Requests are counted in memory and written at most every ``flush_s`` seconds per key (one blob
write per key and interval, not one per request); uploads are written at once. The quota check
and the upload's reservation run under one lock per key in a process, so one process never lets
a key past its quota; two replicas accepting the same key's uploads in the same instant can
each pass the check (the quota is then exceeded by at most the uploads in flight).

Counter blobs of days older than ``KEEP_DAYS`` are removed by each process's first write of a
day. Requests not yet written when the UTC day turns are not counted (at most ``flush_s``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import Request, status
from pydantic import BaseModel, Field

from pcaptotal.access.identity import Identity
from pcaptotal.ports import BlobNotFound, BlobStore
from pcaptotal.settings import Settings
from pcaptotal.web import ProblemError

log = structlog.get_logger(__name__)

USAGE_PREFIX = "usage/"
FLUSH_S = 10.0
KEEP_DAYS = 7  # counter blobs of older days are removed (by the first write of each day)


class Counts(BaseModel):
    requests: int = 0
    uploads: int = 0
    upload_bytes: int = 0

    def plus(self, other: Counts) -> Counts:
        return Counts(
            requests=self.requests + other.requests,
            uploads=self.uploads + other.uploads,
            upload_bytes=self.upload_bytes + other.upload_bytes,
        )


class QuotaView(BaseModel):
    uploads_per_day: int | None = Field(description="null: no limit")
    upload_bytes_per_day: int | None = Field(description="null: no limit")
    requests_per_minute: int | None = Field(description="per process; null: no limit")
    exempt: bool = Field(description="this key is not held to the upload quotas (admin)")


@dataclass(frozen=True, slots=True)
class UploadQuota:
    per_day: int  # 0: no limit
    bytes_per_day: int  # 0: no limit
    admin_exempt: bool

    @classmethod
    def from_settings(cls, s: Settings) -> UploadQuota:
        return cls(
            s.upload_quota_per_day, s.upload_quota_bytes_per_day, s.upload_quota_admin_exempt
        )

    def applies_to(self, who: Identity | None) -> bool:
        if who is None or who.key_id is None:  # auth off: nobody to count against
            return False
        if who.is_admin and self.admin_exempt:
            return False
        return bool(self.per_day or self.bytes_per_day)

    def view(self, who: Identity, requests_per_minute: int) -> QuotaView:
        return QuotaView(
            uploads_per_day=self.per_day or None,
            upload_bytes_per_day=self.bytes_per_day or None,
            requests_per_minute=requests_per_minute or None,
            exempt=who.is_admin and self.admin_exempt,
        )


def utc_day(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


def seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds() + 0.999))


class UsageLedger:
    def __init__(
        self,
        blobs: BlobStore,
        quota: UploadQuota,
        *,
        flush_s: float = FLUSH_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._blobs = blobs  # unscoped: the access layer's own records
        self.quota = quota
        self._flush_s = flush_s
        self._clock = clock
        self._monotonic = monotonic
        self.replica = uuid.uuid4().hex[:16]
        self._day = ""
        self._day_ends: datetime | None = None  # the next midnight (UTC) after self._day
        self._mine: dict[str, Counts] = {}  # key id -> this process's counts today
        self._flushed_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pruned = ""  # the day this process last removed old counters

    def _today(self) -> str:
        now = self._clock()
        # Named once a day, not per request (strftime was ~2 % of a capture GET's CPU).
        ends = self._day_ends
        if ends is not None and ends > now >= ends - timedelta(days=1):
            return self._day
        day = utc_day(now)
        if day != self._day:  # a new day: this process starts from zero
            self._day, self._mine, self._flushed_at = day, {}, {}
        tomorrow = now + timedelta(days=1)
        self._day_ends = tomorrow.replace(hour=0, minute=0, second=0, microsecond=0)
        return day

    def _key(self, day: str, key_id: str, replica: str) -> str:
        return f"{USAGE_PREFIX}{day}/{key_id}/{replica}.json"

    async def _flush(self, key_id: str) -> None:
        day = self._today()
        counts = self._mine.get(key_id, Counts())
        self._flushed_at[key_id] = self._monotonic()
        try:
            await self._blobs.put_bytes(
                self._key(day, key_id, self.replica), counts.model_dump_json().encode()
            )
        except Exception as exc:  # counting must never fail the request it counts
            log.warning("usage counters not written", key_id=key_id, error=repr(exc))
        if self._pruned != day:
            self._pruned = day
            await self._prune(day)

    async def _prune(self, today: str) -> None:
        """Remove the counter blobs of days before the last ``KEEP_DAYS`` (any process may:
        nobody writes an old day again)."""
        cutoff = utc_day(self._clock() - timedelta(days=KEEP_DAYS))
        try:
            for blob in await self._blobs.list_keys(USAGE_PREFIX):
                day = blob.removeprefix(USAGE_PREFIX).split("/", 1)[0]
                if day < cutoff:
                    await self._blobs.delete(blob)
        except Exception as exc:  # a later day tries again
            log.warning("old usage counters not removed", error=repr(exc))

    async def count_request(self, key_id: str) -> None:
        self._today()
        mine = self._mine.setdefault(key_id, Counts())
        mine.requests += 1
        last = self._flushed_at.get(key_id)
        if last is None or self._monotonic() - last >= self._flush_s:
            await self._flush(key_id)

    async def totals(self, key_id: str) -> Counts:
        """Today's counts of ``key_id`` over every process (this one's unflushed ones too)."""
        day = self._today()
        total = self._mine.get(key_id, Counts()).model_copy()
        prefix = f"{USAGE_PREFIX}{day}/{key_id}/"
        own = self._key(day, key_id, self.replica)
        for blob in await self._blobs.list_keys(prefix):
            if blob == own:
                continue
            try:
                data = await self._blobs.get_bytes(blob)
                total = total.plus(Counts.model_validate(json.loads(data)))
            except (BlobNotFound, KeyError, ValueError):
                continue  # removed meanwhile, or half-written by a crash: skip it
        return total

    def _lock(self, key_id: str) -> asyncio.Lock:
        if len(self._locks) > 10_000:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(key_id, asyncio.Lock())

    def _over(self, used: Counts, size: int) -> str | None:
        q = self.quota
        if q.per_day and used.uploads + 1 > q.per_day:
            return f"this key's upload quota ({q.per_day} a day) is used up"
        if q.bytes_per_day and used.upload_bytes + size > q.bytes_per_day:
            return f"this key's upload quota ({q.bytes_per_day} bytes a day) is used up"
        return None

    def _refuse(self, reason: str) -> ProblemError:
        wait = seconds_to_midnight(self._clock())
        return ProblemError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{reason}; it resets at 00:00 UTC, retry after Retry-After seconds",
            kind="upload-quota-exceeded",
            headers={"Retry-After": str(wait)},
        )

    async def check_upload(self, who: Identity | None, size: int = 0) -> None:
        """Before reading an upload: 429 when the key has no upload left today (``size``:
        what the request declares, 0 when unknown)."""
        if not self.quota.applies_to(who):
            return
        assert who is not None and who.key_id is not None
        reason = self._over(await self.totals(who.key_id), size)
        if reason:
            raise self._refuse(reason)

    async def record_upload(self, who: Identity | None, size: int) -> None:
        """Count an upload of ``size`` capture bytes; 429 (and nothing counted) when it would
        go over the key's quota."""
        if who is None or who.key_id is None:
            return
        async with self._lock(who.key_id):
            if self.quota.applies_to(who):
                reason = self._over(await self.totals(who.key_id), size)
                if reason:
                    raise self._refuse(reason)
            self._today()
            mine = self._mine.setdefault(who.key_id, Counts())
            mine.uploads += 1
            mine.upload_bytes += size
            await self._flush(who.key_id)


def upload_ledger(request: Request) -> UsageLedger | None:
    """The app's ledger (``start_access`` puts it on ``app.state.access``); None before."""
    access = getattr(request.app.state, "access", None)
    ledger = getattr(access, "usage", None)
    return ledger if isinstance(ledger, UsageLedger) else None
