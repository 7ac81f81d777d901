"""Analysis runs: ingest starts one per upload and re-analysis (generation 1, 2, ...), kept on
the capture document; a re-drive repeats the run; failures carry the run of their capture."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pcaptotal.adapters.factory import close_context, make_context, start_context
from pcaptotal.captures import Status
from pcaptotal.context import Context
from pcaptotal.failures import fail_capture
from pcaptotal.messages import CaptureFailed, CaptureStored, Envelope
from pcaptotal.ports import Delivery
from pcaptotal.reconcile import Reconciler
from pcaptotal.settings import Settings
from pcaptotal_ingest.service import register_capture

from tests.spool import spooled

DATA = b"\xd4\xc3\xb2\xa1" + b"\x00" * 40


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    settings = Settings(data_dir=tmp_path / "data", outbox_grace_s=0, publish_timeout_s=1)
    c = make_context(settings)
    await start_context(c)
    yield c
    await close_context(c)


async def _listen(c: Context) -> list[Envelope]:
    got: list[Envelope] = []

    async def handler(d: Delivery) -> None:
        got.append(d.event)

    await c.bus.subscribe("observer", ["capture.*"], handler)
    return got


async def _upload(c: Context, tmp: Path, *, reanalyze: bool) -> str:
    upload = spooled(DATA, tmp, "x.pcap")
    return (await register_capture(c, upload, reanalyze=reanalyze)).capture_id


async def test_upload_and_reanalysis_start_runs(ctx: Context, tmp_path: Path) -> None:
    got = await _listen(ctx)
    cid = await _upload(ctx, tmp_path, reanalyze=False)
    await _upload(ctx, tmp_path, reanalyze=False)  # the same bytes again: no new run
    await _upload(ctx, tmp_path, reanalyze=True)
    await ctx.bus.wait_idle()  # type: ignore[attr-defined]
    stored = [e for e in got if isinstance(e, CaptureStored)]
    assert [e.generation for e in stored] == [1, 2]
    assert stored[0].analysis_id != stored[1].analysis_id
    doc = await ctx.captures.get(cid)
    assert doc is not None
    assert (doc["analysis_id"], doc["generation"]) == (str(stored[1].analysis_id), 2)


async def test_redrive_repeats_the_run_and_failure_carries_it(ctx: Context, tmp_path: Path) -> None:
    got = await _listen(ctx)
    cid = await _upload(ctx, tmp_path, reanalyze=False)
    await ctx.captures.update(cid, Status.PARSING)
    assert await Reconciler(ctx).sweep(time.time() + 10**6) == 1
    await fail_capture(ctx, cid, "parse", "tshark cannot read the capture")
    await ctx.bus.wait_idle()  # type: ignore[attr-defined]
    first, redriven, failed = got
    assert isinstance(redriven, CaptureStored) and isinstance(failed, CaptureFailed)
    assert redriven.analysis_id == first.analysis_id == failed.analysis_id
    assert redriven.generation == failed.generation == 1
    assert failed.error == "tshark cannot read the capture" and failed.stage == "parse"


async def test_document_without_a_run_gets_one_on_failure(ctx: Context) -> None:
    got = await _listen(ctx)
    cid = "ab" * 32
    await ctx.captures.create(cid, size=1, filename=None)  # written before runs existed
    await fail_capture(ctx, cid, "enrich", "records missing")
    await ctx.bus.wait_idle()  # type: ignore[attr-defined]
    (failed,) = got
    doc = await ctx.captures.get(cid)
    assert isinstance(failed, CaptureFailed) and doc is not None
    assert (doc["analysis_id"], doc["generation"]) == (str(failed.analysis_id), 1)
