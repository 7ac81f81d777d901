"""``DependencyUnavailable`` → ``503 Service Unavailable`` with ``Retry-After``, for every app.

A request that met a blob-store, index or bus outage (after its short retry budget) is told
to come back, rather than getting a 500 or hanging for minutes.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pcaptotal.resilience import DependencyUnavailable

RETRY_AFTER_S = 30


def unavailable_response(exc: DependencyUnavailable) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": str(exc),
        },
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
        media_type="application/problem+json",
    )


def install_unavailable_handler(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DependencyUnavailable)
        return unavailable_response(exc)

    app.add_exception_handler(DependencyUnavailable, handle)
