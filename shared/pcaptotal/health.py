"""Liveness and readiness endpoints every HTTP service exposes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from pcaptotal.web import media_response


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(description="each dependency: reachable or not")


def create_health_router() -> APIRouter:
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
        checks = {"index": False, "blobstore": False}
        if ctx is not None:
            try:
                checks["index"] = await ctx.index.ping()
            except Exception:
                checks["index"] = False
            try:
                await ctx.blobs.stat("healthz/probe")
                checks["blobstore"] = True
            except Exception:
                checks["blobstore"] = False
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
