"""A capture's analysis in a child process of its own: ``python -m pcaptotal_enricher.isolated``
(``pcaptotal.child_process`` says why and how it is watched). Its result (``ChildResult``)
is left beside the job's output file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog
from pcaptotal.child_process import (
    ChildDied,
    ChildOverMemory,
    ChildTimedOut,
    Lines,
    run_child,
    serve_child,
)
from pydantic import BaseModel

from pcaptotal_enricher.analysis import AnalysisJob, AnalysisOutcome, Report, analyse_file

# Heuristics and verdicts take ~10 s per 50,000 flows on this project's 2-core reference
# machine: an hour means a child that is stuck, not a big capture.
TIME_LIMIT_S = 3600.0
RESULT_NAME = "analysis.json"

log = structlog.get_logger(__name__)


class ChildResult(BaseModel):
    outcome: AnalysisOutcome | None = None
    internal: str | None = None  # an unexpected error (a bug, the disk): worth a retry


class AnalysisTooBig(Exception):
    """The capture cannot be analysed within the limits: a reason for the uploader."""


class AnalysisProcessError(RuntimeError):
    """The child died or failed without a verdict: worth a retry."""


async def analyse_in_child(
    job: AnalysisJob, report: Callable[[Report], None], *, memory_limit_mb: int
) -> AnalysisOutcome:
    """``analysis.analyse_file`` in a child process, whose reports reach ``report`` as they
    come. Raises ``AnalysisTooBig`` past ``memory_limit_mb`` of resident memory (0: none) or
    the time limit, and ``AnalysisProcessError`` when the child died or failed."""
    try:
        result = await run_child(
            "pcaptotal_enricher.isolated",
            job,
            _result_path(job),
            ChildResult,
            time_limit_s=TIME_LIMIT_S,
            memory_limit_mb=memory_limit_mb,
            on_line=lambda line: report(Report.model_validate_json(line)),
        )
    except ChildOverMemory as exc:
        raise AnalysisTooBig(
            f"analysing this capture's flows needs more than {memory_limit_mb} MB (the analysis "
            f"process reached {exc.peak_mb} MB); raise PCAPTOTAL_ENRICHER_MEMORY_LIMIT_MB or "
            "split the capture"
        ) from None
    except ChildTimedOut:
        limit = f"{TIME_LIMIT_S:.0f} s"
        raise AnalysisTooBig(f"analysing this capture took longer than {limit}") from None
    except ChildDied as exc:
        raise AnalysisProcessError(f"the analysis process {exc}") from None
    if result.internal is not None or result.outcome is None:
        raise AnalysisProcessError(f"the analysis process failed: {result.internal}")
    return result.outcome


def _result_path(job: AnalysisJob) -> Path:
    return job.out_dir / RESULT_NAME


async def _child(job: AnalysisJob, lines: Lines) -> ChildResult:
    try:
        # nothing else runs on this loop: the reports go out as they are made
        return ChildResult(outcome=analyse_file(job, lines.send))
    except Exception as exc:
        log.exception("analysis failed in the analysis process")
        return ChildResult(internal=f"{type(exc).__name__}: {exc}")


def main() -> None:
    serve_child(AnalysisJob, _child, _result_path)


if __name__ == "__main__":
    main()
