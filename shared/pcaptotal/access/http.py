"""Access control on the HTTP apps: one dependency on every route, the key-management routes,
and start-up (server secret, key store, first admin key, scoped request context).

``install_access(app)`` right after ``FastAPI(...)`` (before routers are included, so every
route gets the dependency); ``await start_access(app, settings, embedded=...)`` in the
lifespan once ``app.state.ctx`` is set.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from pcaptotal.access.apikeys import KeyStore, StoredKey
from pcaptotal.access.audit import audit
from pcaptotal.access.hosts import is_loopback
from pcaptotal.access.identity import LOCAL_ADMIN, Identity, current_identity
from pcaptotal.access.keys_api import create_keys_router
from pcaptotal.access.ratelimit import RateLimiter
from pcaptotal.access.roles import Role, required_role
from pcaptotal.access.secret import auth_dir, load_secret, write_private
from pcaptotal.access.usage import UploadQuota, UsageLedger
from pcaptotal.settings import Settings
from pcaptotal.web import ProblemError, error_responses

log = structlog.get_logger(__name__)

API_KEY_HEADER = "x-api-key"
_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="an API key (python -m pcaptotal keys create, or POST /v1/keys)",
)
_SCHEME = "APIKeyHeader"  # its name in the OpenAPI document, as FastAPI named it
ADMIN_KEY_FILE = "admin-key"


@dataclass(slots=True)
class AccessState:
    auth_on: bool
    store: KeyStore
    limiter: RateLimiter | None = None
    usage: UsageLedger | None = None  # requests and uploads per key and day (shared store)


_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")


def _template(request: Request) -> str:
    """The route's path as the OpenAPI document (and the role table) spells it: a
    ``{value:path}`` converter is ``{value}`` there."""
    route: Any = request.scope.get("route")
    path = getattr(route, "path", None)
    # request.url is built only without a route (it costs a URL per request).
    return _spelled(str(path) if path is not None else request.url.path)


@lru_cache(maxsize=4096)
def _spelled(path: str) -> str:
    return _CONVERTER.sub(r"{\1}", path)


async def authorize(request: Request) -> None:
    """Resolve the caller from ``x-api-key`` into ``current_identity`` and check the route's
    role (``pcaptotal.access.roles``): 401 without a valid key, 403 with too low a role.

    The header is read here rather than through a ``Security(APIKeyHeader)`` sub-dependency:
    FastAPI solves each dependency of each request anew (a tenth of a capture GET's CPU per
    dependency); the OpenAPI document declares the scheme all the same (``_with_auth``)."""
    key = request.headers.get(API_KEY_HEADER)
    state: AccessState = request.app.state.access
    if not key:
        _refuse_cross_site_change(request)
    if not state.auth_on:
        current_identity.set(LOCAL_ADMIN)
        return
    template = _template(request)
    needed = required_role(request.method, template)
    who: Identity | None = None
    if key:
        rec: StoredKey | None = await state.store.authenticate(key)
        if rec is not None:
            who = Identity(owner=rec.owner, role=rec.role, key_id=rec.id)
    current_identity.set(who)
    if needed is None:
        return
    if who is None:
        if needed is Role.ADMIN and request.method != "GET":
            audit(None, f"{request.method} {template}", "unauthenticated")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"a valid API key is required in the {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if state.limiter is not None and who.key_id is not None:
        wait = state.limiter.take(who.key_id)
        if wait:
            raise ProblemError(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "this key's request rate limit is reached; retry after Retry-After seconds",
                kind="rate-limited",
                headers={"Retry-After": str(wait)},
            )
    if state.usage is not None and who.key_id is not None and not template.endswith("/usage"):
        await state.usage.count_request(who.key_id)  # asking for the count does not count
    if not who.role.allows(needed):
        if needed is Role.ADMIN:
            audit(who, f"{request.method} {template}", "forbidden")
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this route needs the {needed.value} role")
    if needed is Role.ADMIN and request.method not in ("GET", "HEAD"):
        audit(who, f"{request.method} {template}", "allowed", **dict(request.path_params))


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _refuse_cross_site_change(request: Request) -> None:
    """A browser page of another site can send a state change without a CORS preflight
    (``text/plain``, forms); it cannot add ``x-api-key``. So a change without a key is refused
    when the browser says it comes from elsewhere (``Sec-Fetch-Site``, ``Origin``): this is
    what keeps PCAPTOTAL_AUTH=off on loopback safe from the pages a local browser opens."""
    if request.method in _SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    foreign_origin = origin is not None and origin.split("://", 1)[-1] != host
    if (site is not None and site not in ("same-origin", "none")) or foreign_origin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "a change from another site's page needs an API key (x-api-key)",
        )


def install_access(app: FastAPI) -> None:
    """The role check on every route of ``app`` (call before including routers), the key
    routes, and 401/403 plus the key scheme in the OpenAPI document."""
    from fastapi import Depends

    app.router.dependencies.append(Depends(authorize))
    app.include_router(create_keys_router())
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_auth(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_auth(doc: dict[str, Any]) -> dict[str, Any]:
    schemes = doc.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[_SCHEME] = _api_key.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    denied = error_responses(
        {
            401: "no valid API key in the x-api-key header",
            403: "the key's role is too low",
            429: "the key's request rate limit is reached",
        },
        retry_after=[429],
    )
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            if required_role(method.upper(), path) is None:
                op["security"] = [{}]  # no key needed
                continue
            op["security"] = [{_SCHEME: []}]
            responses = op.setdefault("responses", {})
            for code, entry in denied.items():
                responses.setdefault(str(code), entry)
    return doc


async def start_access(app: FastAPI, settings: Settings, *, embedded: bool) -> None:
    """Check the auth setting, open the key store, make the first admin key, and scope the
    request context (``app.state.ctx``) to the caller. ``embedded``: the all-in-one runner,
    which creates an admin key on first start when none is given."""
    auth_on = settings.auth == "on"
    if not auth_on and not is_loopback(settings.http_host):
        raise RuntimeError(
            f"PCAPTOTAL_AUTH=off is refused when binding {settings.http_host}: "
            "only a loopback address may serve without API keys"
        )
    if not auth_on:
        log.warning("PCAPTOTAL_AUTH=off: every request is an admin (loopback only)")
    ctx = app.state.ctx
    secret = await load_secret(settings, ctx.blobs)
    store = KeyStore(ctx.blobs, secret)
    per_minute = settings.rate_limit_per_minute
    limiter = RateLimiter(per_minute) if per_minute else None
    usage = UsageLedger(ctx.blobs, UploadQuota.from_settings(settings))
    app.state.access = AccessState(auth_on=auth_on, store=store, limiter=limiter, usage=usage)
    app.state.ctx = ctx.visible()
    if auth_on:
        await _first_admin_key(store, settings, embedded=embedded)


async def _first_admin_key(store: KeyStore, settings: Settings, *, embedded: bool) -> None:
    given = settings.bootstrap_admin_key.get_secret_value()
    if await store.any_keys():
        if given and await store.authenticate(given) is None:
            log.warning("PCAPTOTAL_BOOTSTRAP_ADMIN_KEY ignored: keys exist already")
        return
    if given:
        rec, _ = await store.create("admin", Role.ADMIN, key=given)
        audit("bootstrap", "key.create", "ok", key_id=rec.id, key_role="admin", key_owner="admin")
        log.info("admin key from PCAPTOTAL_BOOTSTRAP_ADMIN_KEY stored", key_id=rec.id)
        return
    if not embedded:
        log.warning(
            "no API keys yet: create one with `python -m pcaptotal keys create --role admin "
            "--owner admin` or set PCAPTOTAL_BOOTSTRAP_ADMIN_KEY"
        )
        return
    rec, key = await store.create("admin", Role.ADMIN)
    path = auth_dir(settings) / ADMIN_KEY_FILE
    await asyncio.to_thread(_save_admin_key, path, key)
    audit("bootstrap", "key.create", "ok", key_id=rec.id, key_role="admin", key_owner="admin")
    # The path, never the key: logs are shipped elsewhere.
    log.warning("first start: admin API key created", key_id=rec.id, stored_in=str(path))
    print(f"PcapTotal: admin API key stored in {path} (readable by this user only)", flush=True)


def _save_admin_key(path: Path, key: str) -> None:
    if path.exists():
        path.unlink()  # a stale file from a store that was emptied
    write_private(path, key + "\n")
