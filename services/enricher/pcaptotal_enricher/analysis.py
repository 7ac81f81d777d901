"""A capture's analysis as a job: its flows (through the per-flow steps already) in a records
file → heuristics, verdicts and finding records → the capture-level result (reported first),
then the annotated flows and the findings in chunk files, each reported once written.

It runs in a worker thread or, for a large capture, in a child process (``isolated``); either
way the worker indexes and publishes each chunk while the next is written, so only the
analysis holds the whole capture's flows (heuristics need them all at once). Each record in a
chunk is stamped with its capture's visibility and encoded for the index here
(``Index.add_prepared``): the per-record work of the index write is done by this process, beside
the worker's, not in the worker's interpreter after it.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pcaptotal.access.stamping import stamped
from pcaptotal.adapters.record_formats import PLAIN, encoder
from pcaptotal.memory import SharedStrings
from pcaptotal.messages import Verdict as FlowVerdict
from pcaptotal.records import iter_records
from pydantic import BaseModel, ConfigDict

from pcaptotal_enricher import published
from pcaptotal_enricher.chunks import write_chunk
from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.records import finding_records, finding_summary
from pcaptotal_enricher.verdict import Verdict, analyse_capture


class AnalysisJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    capture_id: str
    flows_path: Path  # the capture's flows, each through the per-flow steps (threat intel)
    # written: chunk files of the annotated flows, in their order, then the finding records
    out_dir: Path
    chunk_records: int = 5_000
    record_format: str = PLAIN  # the index's (Index.record_format)
    visibility: str = "public"  # the stamp of the capture's records (pcaptotal.access.stamping)
    owner: str | None = None
    detection: DetectionConfig
    analysis_id: str
    generation: int
    state_path: Path  # written: what this run publishes, the state the next run reads
    # the flows the previous run published (a local copy of its state), if it published any
    previous_state: Path | None = None


class AnalysisOutcome(BaseModel):
    verdict: Verdict
    score: float
    reasons: list[str]
    tags: list[str]
    flow_verdicts: dict[str, int]
    flow_count: int  # the first flow_count records of the chunks are the flows
    finding_count: int
    finding_summary: list[dict[str, Any]]
    # event ids per old verdict that this run retracts (flows that left that verdict)
    retracted: dict[FlowVerdict, list[str]]


class Chunk(BaseModel):
    """A chunk file of the analysis's records (``chunks``)."""

    path: Path


class Report(BaseModel):
    """What the analysis tells its worker as it goes: the outcome once known, then each
    chunk once written (a child process sends these as lines)."""

    outcome: AnalysisOutcome | None = None
    chunk: Chunk | None = None


def analyse_file(job: AnalysisJob, report: Callable[[Report], None]) -> AnalysisOutcome:
    """Blocking, CPU-bound: a worker thread's or a child process's work."""
    # the flows' repeated values as one object each
    strings = SharedStrings()
    flows: list[dict[str, Any]] = []
    for record in iter_records(job.flows_path):
        strings.share(record)
        flows.append(record)
    strings.clear()
    # The flows (~1 million objects per 50,000) live until the end: the cyclic collector need
    # not walk them again at every collection the analysis triggers.
    gc.freeze()
    try:
        analysis = analyse_capture(flows, job.detection)
        findings = finding_records(job.capture_id, analysis.flows, analysis.findings)
        outcome = AnalysisOutcome(
            verdict=analysis.verdict,
            score=round(analysis.score, 1),
            reasons=analysis.reasons,
            tags=analysis.tags,
            flow_verdicts=analysis.flow_verdicts,
            flow_count=len(analysis.flows),
            finding_count=len(findings),
            finding_summary=finding_summary(findings),
            retracted=_plan_events(job, analysis.flows),
        )
        report(Report(outcome=outcome))
        _write_chunks(job, itertools.chain(analysis.flows, findings), report)
    finally:
        gc.unfreeze()
    return outcome


def _write_chunks(
    job: AnalysisJob, records: Iterator[dict[str, Any]], report: Callable[[Report], None]
) -> None:
    encode = encoder(job.record_format)
    for n in itertools.count():
        batch = list(itertools.islice(records, job.chunk_records))
        if not batch:
            return
        path = job.out_dir / f"chunk-{n:05d}.ndjson.zst"
        write_chunk(path, [stamped(r, job.visibility, job.owner) for r in batch], encode)
        report(Report(chunk=Chunk(path=path)))


def _plan_events(job: AnalysisJob, flows: list[dict[str, Any]]) -> dict[FlowVerdict, list[str]]:
    """This run's published state written for the worker to store, and the retractions it
    implies: the event ids of every flow stay here, not in the worker."""
    current = published.by_verdict(flows)
    previous = None if job.previous_state is None else published.read_state(job.previous_state)
    retracted = published.plan_retractions(previous, job.analysis_id, current)
    state = published.PublishedState(job.analysis_id, job.generation, current, retracted)
    published.write_state(state, job.state_path)
    return retracted
