"""Liveness and readiness endpoints every HTTP service exposes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def create_health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
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
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return JSONResponse(body, 200 if ok else 503)

    @router.get("/metrics", response_model=None)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
