"""One API origin for the distributed services (``make up``; compose): a small streaming
reverse proxy. ``POST /v1/captures`` goes to ingest, ``/v1/intel/*`` to the enricher's feed
API, everything else to search-api — the same split as the Kubernetes HTTPRoute.

``python -m pcaptotal_runner.gateway`` with ``PCAPTOTAL_GATEWAY_INGEST_URL``,
``PCAPTOTAL_GATEWAY_SEARCH_URL``, ``PCAPTOTAL_GATEWAY_INTEL_URL`` and the usual
``PCAPTOTAL_HTTP_HOST`` / ``PCAPTOTAL_HTTP_PORT``. Bodies are streamed both ways (uploads are
never buffered here); ingest enforces the upload size limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
import structlog
import uvicorn
from pcaptotal.access.hosts import install_trusted_hosts, is_loopback
from pcaptotal.logs import TraceMiddleware, configure_logging, current_trace_id
from pcaptotal.metrics import instrument_http, metrics_response
from pcaptotal.service import HTTP, LOOP
from pcaptotal.web import problem_type
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

log = structlog.get_logger(__name__)

# RFC 9110 7.6.1: connection-specific headers are not forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


# The uploads: /v1 and PacketTotal's two spellings (pcaptotal_ingest.compat).
INGEST_POSTS = frozenset(
    {
        "/v1/captures",
        "/compat/packettotal/v1/analyze/base64",
        "/compat/packettotal/v1/pcaps/analyze",
    }
)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PCAPTOTAL_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    gateway_ingest_url: str = Field(description="base URL of ingest (POST /v1/captures)")
    gateway_search_url: str = Field(description="base URL of search-api (all other reads)")
    gateway_intel_url: str = Field(description="base URL of the enricher (/v1/intel/*)")
    gateway_connect_timeout_s: float = 5.0
    # An upload of a large capture is stored before ingest answers: reads may take minutes.
    gateway_read_timeout_s: float = 600.0
    # The services behind it see their own address as Host (the gateway does not forward it).
    trusted_hosts: str = Field(default="", description="see pcaptotal.access.hosts")
    # The services' setting: with keys off behind it, the gateway must not open them up.
    auth: Literal["on", "off"] = "on"
    log_level: str = "INFO"


def upstream_for(method: str, path: str, s: GatewaySettings) -> str:
    """The service a request belongs to (method + path, like the HTTPRoute's matches)."""
    if method == "POST" and path.rstrip("/") in INGEST_POSTS:
        return s.gateway_ingest_url
    if path == "/v1/intel" or path.startswith("/v1/intel/"):
        return s.gateway_intel_url
    return s.gateway_search_url


def _forward_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    client = request.client.host if request.client else ""
    prior = request.headers.get("x-forwarded-for")
    headers.append(("x-forwarded-for", f"{prior}, {client}" if prior else client))
    headers.append(("x-forwarded-proto", request.url.scheme))
    trace = current_trace_id()
    if trace and "x-request-id" not in request.headers:
        headers.append(("x-request-id", trace))  # the services log under the same id
    return headers


def create_gateway(s: GatewaySettings) -> Starlette:
    if s.auth == "off" and not is_loopback(s.http_host):
        raise RuntimeError(
            f"PCAPTOTAL_AUTH=off is refused when binding {s.http_host}: "
            "only a loopback address may serve without API keys"
        )
    timeout = httpx.Timeout(
        s.gateway_read_timeout_s,
        connect=s.gateway_connect_timeout_s,
        pool=s.gateway_connect_timeout_s,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            app.state.client = client
            yield

    async def proxy(request: Request) -> Response:
        client: httpx.AsyncClient = request.app.state.client
        base = upstream_for(request.method, request.url.path, s)
        url = httpx.URL(base + request.url.path, query=request.url.query.encode())
        has_body = request.method in ("POST", "PUT", "PATCH")
        upstream_req = client.build_request(
            request.method,
            url,
            headers=_forward_headers(request),
            content=request.stream() if has_body else None,
        )
        try:
            upstream = await client.send(upstream_req, stream=True)
        except httpx.TimeoutException:
            return _problem(504, "Gateway Timeout", "the service did not answer in time")
        except httpx.HTTPError:
            return _problem(502, "Bad Gateway", "the service is not reachable")
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=headers,
            background=BackgroundTask(upstream.aclose),
        )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Ready when every upstream says it is ready (probed at once, bounded)."""
        client: httpx.AsyncClient = request.app.state.client
        names = {"ingest": s.gateway_ingest_url, "search": s.gateway_search_url}
        names["intel"] = s.gateway_intel_url

        async def probe(url: str) -> bool:
            try:
                r = await client.get(url + "/readyz", timeout=3.0)
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        results = await asyncio.gather(*(probe(u) for u in names.values()))
        checks = dict(zip(names, results, strict=True))
        ok = all(checks.values())
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return JSONResponse(body, 200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return metrics_response()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/{path:path}", proxy, methods=methods),
        ],
        lifespan=lifespan,
    )
    instrument_http(app, "gateway")
    app.add_middleware(TraceMiddleware)
    install_trusted_hosts(app, s)  # last added: outermost, runs first
    return app


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": problem_type(status), "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


def main() -> None:
    s = GatewaySettings()  # the upstream URLs come from the environment
    configure_logging(s.log_level)
    uvicorn.run(
        create_gateway(s),
        host=s.http_host,
        port=s.http_port,
        log_config=None,  # configure_logging's JSON handler, not uvicorn's text one
        access_log=False,  # the HTTP metrics count requests
        timeout_graceful_shutdown=30,
        loop=LOOP,
        http=HTTP,
    )


if __name__ == "__main__":
    main()
