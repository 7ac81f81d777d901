"""The worker's side of the analysis's reports (``analysis.Report``): taken in the order the
analysis made them, while it runs."""

from __future__ import annotations

import asyncio
from typing import Any

from pcaptotal_enricher.analysis import AnalysisOutcome, Report


class Reports:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Report] = asyncio.Queue()

    def put(self, report: Report) -> None:
        self._queue.put_nowait(report)

    async def next(self, analysis: asyncio.Task[AnalysisOutcome]) -> Report | None:
        """The next report; None once the analysis has ended and its reports are taken.
        Raises what the analysis raised. (Its reports are all queued before it ends: a child's
        lines are read to the end first, a thread's callbacks run before its result's.)"""
        while True:
            if not self._queue.empty():
                return self._queue.get_nowait()
            if analysis.done():
                analysis.result()
                return None
            getter = asyncio.ensure_future(self._queue.get())
            await asyncio.wait([getter, analysis], return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                return getter.result()
            getter.cancel()
            await asyncio.gather(getter, return_exceptions=True)


def failed(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` ended with an error of its own (not cancelled)."""
    return task.done() and not task.cancelled() and task.exception() is not None
