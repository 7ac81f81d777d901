"""Turning a stage's failure into a ``failed`` capture with a reason, and an event."""

from __future__ import annotations

from pcaptotal.context import Context
from pcaptotal.messages import CaptureFailed


async def fail_capture(ctx: Context, capture_id: str, stage: str, reason: str) -> None:
    await ctx.captures.fail(capture_id, reason)
    await ctx.bus.publish(CaptureFailed(capture_id=capture_id, stage=stage, reason=reason))
