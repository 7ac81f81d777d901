"""The cross-capture answers (similar captures, stats, archives' members, indicator
sightings) computed by the search API's own functions over each Index adapter: the same
answer on tantivy and osmem, and the one worked out here by hand from the documents."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.captures import CaptureRepository
from pcaptotal.ports import Index
from pcaptotal_search_api import archives_store
from pcaptotal_search_api.archives_members import resolve
from pcaptotal_search_api.similar import Mode, idf, rank
from pcaptotal_search_api.stats import Interval, compute

from tests.contract.test_index_contract import index

__all__ = ["index"]

A, B, C, D = (hashlib.sha256(n.encode()).hexdigest() for n in "ABCD")
RARE_JA3 = "1" * 32
COMMON_IP = "198.51.100.7"
DAY = [datetime(2024, 5, d, 12, tzinfo=UTC) for d in (1, 2, 3, 4)]


def _flow(cap: str, n: int, when: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event.id": f"{cap}-tcp-{n}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": cap,
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        **fields,
    }


EVIL_HIT = {"indicator": {"name": COMMON_IP, "provider": "feed.csv"}, "software": {"name": "Evil"}}
FLOWS = [
    # A and B share a JA3 nobody else has; A, B and C all talk to COMMON_IP
    _flow(A, 1, DAY[0], **{"destination.ip": COMMON_IP, "tls.client.ja3": RARE_JA3}),
    _flow(A, 2, DAY[0], **{"destination.ip": "203.0.113.1", "dns.question.name": "a.test"}),
    _flow(B, 1, DAY[1], **{"destination.ip": COMMON_IP, "tls.client.ja3": RARE_JA3}),
    _flow(C, 1, DAY[2], **{"destination.ip": COMMON_IP, "threat.enrichments": [EVIL_HIT]}),
    _flow(D, 1, DAY[3], **{"destination.ip": "203.0.113.9", "user_agent.original": "x"}),
]
FINDINGS = [
    {
        "event.id": f"{C}-finding-1",
        "event.dataset": "finding",
        "pcaptotal.capture_id": C,
        "@timestamp": DAY[2].isoformat(),
        "pcaptotal.finding.name": "beacon",
        "pcaptotal.finding.source": "heuristic",
    },
    {
        "event.id": f"{C}-finding-2",
        "event.dataset": "finding",
        "pcaptotal.capture_id": C,
        "@timestamp": DAY[2].isoformat(),
        "pcaptotal.finding.name": "intel",
        "pcaptotal.finding.source": "intel",
        "threat.enrichments.indicator.provider": "feed.csv",
    },
]
VERDICTS = {A: "clean", B: "suspicious", C: "malicious", D: "clean"}


@pytest.fixture
async def ctx(index: Index, tmp_path: Path) -> SimpleNamespace:
    await index.add_flows([*FLOWS, *FINDINGS])
    repo = CaptureRepository(index)
    for cap, verdict in VERDICTS.items():
        await repo.create(cap, size=1, filename=None, status="done", verdict=verdict)
    await index.put_capture(
        (await index.get_capture(C) or {})
        | {"tags": ["Evil"], "context": {"sector": "energy", "tags": []}}
    )
    blobs = FileBlobStore(tmp_path / "blobs")  # curated archives live in the blob store
    return SimpleNamespace(index=index, captures=repo, blobs=blobs)


async def test_similar(ctx: SimpleNamespace) -> None:
    got = await rank(ctx, A, intensity=1, mode=Mode.BEHAVIOR, uncommon=False, limit=10)  # type: ignore[arg-type]
    assert got.captures_in_index == 4
    assert [r.capture_id for r in got.results] == [B, C]
    ja3 = round(1.5 * idf(4, 2), 6)
    common = round(1.0 * idf(4, 3), 6)
    b, c = got.results
    assert [(s.field, s.value, s.captures_with_value, s.weight) for s in b.shared] == [
        ("ja3", RARE_JA3, 2, ja3),
        ("destination", COMMON_IP, 3, common),
    ]
    own = ja3 + common + 2 * round(idf(4, 1), 6)  # + A's own destination and DNS name
    assert b.score == round((ja3 + common) / own, 6)
    assert [s.value for s in c.shared] == [COMMON_IP] and c.verdict == "malicious"


async def test_stats(ctx: SimpleNamespace) -> None:
    got = await compute(
        ctx,  # type: ignore[arg-type]
        interval=Interval.DAY,
        since=None,
        until=None,
        archive=None,
        sector=None,
        top=5,
    )
    assert [(p.start, p.count) for p in got.captures] == [(d.replace(hour=0), 1) for d in DAY]
    assert [p.breakdown[0].key for p in got.captures] == [VERDICTS[x] for x in (A, B, C, D)]
    assert [(b.key, b.count) for b in got.family_totals] == [("Evil", 1)]
    assert [(b.key, b.count) for b in got.finding_totals] == [("beacon", 1)]
    assert [(b.key, b.count) for b in got.intel_totals] == [("feed.csv", 1)]
    assert [(b.key, b.count) for b in got.malicious_top.destinations] == [(COMMON_IP, 1)]
    assert [(b.key, b.count) for b in got.sector_totals] == [("energy", 1)]
    evil = await compute(
        ctx,  # type: ignore[arg-type]
        interval=Interval.WEEK,
        since=None,
        until=None,
        archive="malware/Evil",
        sector=None,
        top=5,
    )
    assert evil.captures_total == 1 and evil.verdict_totals[0].key == "malicious"
    window = await compute(
        ctx,  # type: ignore[arg-type]
        interval=Interval.HOUR,
        since=DAY[1],
        until=DAY[3],
        archive=None,
        sector="energy",
        top=5,
    )
    assert window.captures_total == 1 and window.captures[0].start == DAY[2]


async def test_archive_members_curated_and_automatic(ctx: SimpleNamespace) -> None:
    """malware/Evil is C (its flow's feed hit); a curated overlay of the same name adds A and
    D, whose spans come from all their records; a curated-only archive answers stats."""
    now = DAY[0]
    for name, ids in (("malware/Evil", [A, D]), ("teaching/basics", [B, D])):
        curated = archives_store.Curated(
            name=name, title=name, created=now, updated=now, captures=dict.fromkeys(ids, now)
        )
        await archives_store.save(ctx.blobs, curated)
    evil = await resolve(ctx, "malware/Evil")  # type: ignore[arg-type]
    assert evil.automatic and evil.curated is not None
    assert [(m.capture_id, m.first, m.last) for m in evil.members] == [
        (D, DAY[3], DAY[3]),
        (C, DAY[2], DAY[2]),
        (A, DAY[0], DAY[0]),
    ]
    assert [m.added is not None for m in evil.members] == [True, False, True]
    window = await resolve(ctx, "malware/Evil", since=DAY[1], until=DAY[3])  # type: ignore[arg-type]
    assert [m.capture_id for m in window.members] == [C]
    got = await compute(
        ctx,  # type: ignore[arg-type]
        interval=Interval.DAY,
        since=None,
        until=None,
        archive="teaching/basics",
        sector=None,
        top=5,
    )
    assert got.captures_total == 2
    assert sorted(b.key for b in got.verdict_totals) == ["clean", "suspicious"]
