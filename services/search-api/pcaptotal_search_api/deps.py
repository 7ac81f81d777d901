"""FastAPI dependencies: the process Context lives on ``app.state.ctx``."""

from __future__ import annotations

from fastapi import Request
from pcaptotal.context import Context


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx
