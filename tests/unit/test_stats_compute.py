"""``/v1/stats``'s malicious top lists start from the capture documents' verdicts, beside the
per-capture aggregation (``stats.compute``): a malicious capture whose flows carry no
``@timestamp`` is not counted (it has no first traffic time) and its flows stay out of the top
lists, as when the lists were computed after the exact list of malicious captures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.captures import new_capture_doc
from pcaptotal_search_api import stats

TIMED, UNTIMED, CLEAN = "a" * 64, "b" * 64, "c" * 64


def _flows(cid: str, ip: str, n: int, timed: bool) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        doc: dict[str, Any] = {
            "event.id": f"{cid}-{i}",
            "event.dataset": "flow",
            "pcaptotal.capture_id": cid,
            "destination.ip": ip,
            "user_agent.original": f"agent-{cid[0]}",
        }
        if timed:
            doc["@timestamp"] = f"2024-05-0{1 + i % 3}T10:00:00Z"
        out.append(doc)
    return out


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[TantivyIndex]:
    idx = TantivyIndex(tmp_path / "index")
    await idx.start()
    for cid, verdict in ((TIMED, "malicious"), (UNTIMED, "malicious"), (CLEAN, "clean")):
        doc = new_capture_doc(cid, size=1, filename=f"{cid[0]}.pcap")
        await idx.put_capture(doc | {"status": "done", "verdict": verdict})
    await idx.add_flows(_flows(TIMED, "192.0.2.1", 2, timed=True))
    await idx.add_flows(_flows(UNTIMED, "192.0.2.2", 5, timed=False))
    await idx.add_flows(_flows(CLEAN, "192.0.2.3", 7, timed=True))
    try:
        yield idx
    finally:
        await idx.close()


async def test_untimed_malicious_capture_stays_out_of_the_top_lists(index: TantivyIndex) -> None:
    calls: list[list[str] | None] = []
    aggregate = index.aggregate

    async def spy(*args: Any, **kwargs: Any) -> Any:
        if "dst" in args[1]:
            calls.append(kwargs.get("capture_ids"))
        return await aggregate(*args, **kwargs)

    ctx: Any = SimpleNamespace(index=SimpleNamespace(find_captures=index.find_captures))
    ctx.index.aggregate = spy
    view = await stats.compute(
        ctx,
        interval=stats.Interval.DAY,
        since=None,
        until=None,
        archive=None,
        sector=None,
        top=10,
    )
    assert view.captures_total == 2
    assert {b.key: b.count for b in view.verdict_totals} == {"malicious": 1, "clean": 1}
    top = view.malicious_top
    assert top.captures == 1
    assert [(b.key, b.count) for b in top.destinations] == [("192.0.2.1", 2)]
    assert [(b.key, b.count) for b in top.user_agents] == [("agent-a", 2)]
    # first from the verdicts (both malicious captures), then again without the untimed one
    assert calls == [sorted([TIMED, UNTIMED]), [TIMED]]


async def test_top_lists_run_once_when_every_candidate_is_timed(index: TantivyIndex) -> None:
    await index.delete_flows(UNTIMED)
    calls = []
    aggregate = index.aggregate

    async def spy(*args: Any, **kwargs: Any) -> Any:
        if "dst" in args[1]:
            calls.append(kwargs.get("capture_ids"))
        return await aggregate(*args, **kwargs)

    ctx: Any = SimpleNamespace(index=SimpleNamespace(find_captures=index.find_captures))
    ctx.index.aggregate = spy
    view = await stats.compute(
        ctx, interval=stats.Interval.DAY, since=None, until=None, archive=None, sector=None, top=5
    )
    assert view.malicious_top.captures == 1
    assert [(b.key, b.count) for b in view.malicious_top.destinations] == [("192.0.2.1", 2)]
    assert calls == [sorted([TIMED, UNTIMED])]  # the candidate without flows adds nothing
