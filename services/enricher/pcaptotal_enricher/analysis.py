"""A capture's analysis as a job: its flows (through the per-flow steps already) in a records
file → heuristics, verdicts and finding records → the annotated flows, then the findings, in
another records file, and the capture-level result as the outcome.

It runs in a worker thread or, for a large capture, in a child process (``isolated``); either
way the worker then indexes and publishes from the file a batch at a time, so only the
analysis holds the whole capture's flows (heuristics need them all at once).
"""

from __future__ import annotations

import gc
import itertools
from pathlib import Path
from typing import Any

from pcaptotal.memory import SharedStrings
from pcaptotal.messages import Verdict as FlowVerdict
from pcaptotal.records import iter_records, write_ndjson_zst
from pydantic import BaseModel, ConfigDict

from pcaptotal_enricher import published
from pcaptotal_enricher.heuristics.config import DetectionConfig
from pcaptotal_enricher.records import finding_records, finding_summary
from pcaptotal_enricher.verdict import Verdict, analyse_capture


class AnalysisJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    capture_id: str
    flows_path: Path  # the capture's flows, each through the per-flow steps (threat intel)
    out_path: Path  # written: the annotated flows, in their order, then the finding records
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
    flow_count: int  # the first flow_count records of out_path are the flows
    finding_count: int
    finding_summary: list[dict[str, Any]]
    # event ids per old verdict that this run retracts (flows that left that verdict)
    retracted: dict[FlowVerdict, list[str]]


def analyse_file(job: AnalysisJob) -> AnalysisOutcome:
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
        write_ndjson_zst(itertools.chain(analysis.flows, findings), job.out_path)
    finally:
        gc.unfreeze()
    return AnalysisOutcome(
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


def _plan_events(job: AnalysisJob, flows: list[dict[str, Any]]) -> dict[FlowVerdict, list[str]]:
    """This run's published state written for the worker to store, and the retractions it
    implies: the event ids of every flow stay here, not in the worker."""
    current = published.by_verdict(flows)
    previous = None if job.previous_state is None else published.read_state(job.previous_state)
    retracted = published.plan_retractions(previous, job.analysis_id, current)
    state = published.PublishedState(job.analysis_id, job.generation, current, retracted)
    published.write_state(state, job.state_path)
    return retracted
