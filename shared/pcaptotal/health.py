"""Liveness and readiness endpoints every HTTP service exposes."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from pcaptotal.web import media_response

PROBE_TIMEOUT_S = 3.0


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(description="each dependency: reachable or not")


def create_health_router(
    ready_checks: tuple[str, ...] = ("index", "blobstore", "bus"),
) -> APIRouter:
    """``ready_checks``: the dependencies this service cannot serve without (search-api reads
    only the index and blob store; ingest and the workers need the bus too)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Liveness)
    async def healthz() -> Liveness:
        return Liveness(status="ok")

    @router.get(
        "/readyz",
        response_model=None,
        responses={
            200: {"model": Readiness, "description": "every dependency answers"},
            503: {"model": Readiness, "description": "a dependency does not answer"},
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        ctx = getattr(request.app.state, "ctx", None)
        checks = dict.fromkeys(ready_checks, False)
        if ctx is not None:
            try:
                checks["index"] = await asyncio.wait_for(ctx.index.ping(), PROBE_TIMEOUT_S)
            except Exception:
                checks["index"] = False
            try:
                # Bounded: the request context retries outages, readiness must answer now.
                await asyncio.wait_for(ctx.blobs.stat("healthz/probe"), PROBE_TIMEOUT_S)
                checks["blobstore"] = True
            except Exception:
                checks["blobstore"] = False
            if "bus" in checks:
                try:
                    checks["bus"] = await ctx.bus.ping()
                except Exception:
                    checks["bus"] = False
        checks = {k: v for k, v in checks.items() if k in ready_checks}
        ok = all(checks.values())
        body = Readiness(status="ready" if ok else "not ready", checks=checks)
        return JSONResponse(body.model_dump(), 200 if ok else 503)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: media_response("text/plain", "Prometheus metrics, text exposition format")},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
