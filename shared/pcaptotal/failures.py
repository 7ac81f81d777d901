"""Turning a stage's failure into a ``failed`` capture with a reason, and an event."""

from __future__ import annotations

from pcaptotal.context import Context
from pcaptotal.messages import CaptureFailed, Stage
from pcaptotal.runs import current_run, next_run


async def fail_capture(ctx: Context, capture_id: str, stage: Stage, reason: str) -> None:
    doc = await ctx.captures.fail(capture_id, reason)
    run = current_run(doc)
    if run is None:  # a document written before runs existed: give this failure its own run
        run = next_run(doc)
        await ctx.captures.update(capture_id, **run.fields())
    await ctx.bus.publish(
        CaptureFailed(capture_id=capture_id, **run.envelope(), stage=stage, error=reason)
    )
