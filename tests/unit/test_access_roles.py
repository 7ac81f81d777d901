"""The one role table covers every operation of every app, and an unlisted route is admin-only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pcaptotal.access.apikeys import KeyStore
from pcaptotal.access.http import AccessState, install_access
from pcaptotal.access.identity import current_identity
from pcaptotal.access.roles import ROUTE_ROLES, Role, listed, required_role
from pcaptotal.adapters.file_blobstore import FileBlobStore
from pcaptotal.settings import Settings
from pcaptotal.web import install_problem_details


def _apps(tmp: Path) -> dict[str, FastAPI]:
    from pcaptotal.service import create_http_app
    from pcaptotal_enricher.__main__ import build_app as enricher_app
    from pcaptotal_ingest.__main__ import build_app as ingest_app
    from pcaptotal_runner.app import create_app
    from pcaptotal_search_api.routes import create_router

    s = Settings(data_dir=tmp)
    return {
        "runner": create_app(s, workers=False),
        "ingest": ingest_app(s),
        "enricher": enricher_app(s),
        "search-api": create_http_app("PcapTotal search API", s, [create_router()]),
    }


def test_every_operation_of_every_app_has_a_role_entry(tmp_path: Path) -> None:
    for name, app in _apps(tmp_path).items():
        ops = [(m.upper(), p) for p, o in app.openapi()["paths"].items() for m in o]
        missing = [op for op in ops if not listed(*op)]
        assert not missing, f"{name}: add these to pcaptotal.access.roles.ROUTE_ROLES: {missing}"
        # every keyed operation says so in the document
        for path, o in app.openapi()["paths"].items():
            for method, op in o.items():
                if required_role(method.upper(), path) is not None:
                    assert {"401", "403"} <= set(op["responses"]), (name, method, path)
                    assert "x-api-key" in str(app.openapi()["components"]["securitySchemes"])


def test_table_shape() -> None:
    assert required_role("HEAD", "/v1/captures") is Role.READER
    assert required_role("POST", "/v1/captures") is Role.SUBMITTER
    assert required_role("GET", "/healthz") is None
    assert required_role("PUT", "/v1/anything-new") is Role.ADMIN  # fail closed
    assert all(k[0] == k[0].upper() and k[1].startswith("/") for k in ROUTE_ROLES)
    for method, path in ROUTE_ROLES:
        if method != "GET":  # nothing that changes state is open
            assert ROUTE_ROLES[(method, path)] is not None


@pytest.fixture
def client(tmp_path: Path) -> Any:
    """An app with a route nobody listed, and three keys."""
    app = FastAPI()
    install_access(app)
    install_problem_details(app)

    @app.post("/v1/unlisted")
    async def unlisted() -> dict[str, Any]:
        who = current_identity.get()
        return {"owner": who.owner if who else None}

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    store = KeyStore(FileBlobStore(tmp_path / "b"), b"k" * 32)
    keys = {
        role: asyncio.run(store.create(role.value, role))[1]
        for role in (Role.READER, Role.SUBMITTER, Role.ADMIN)
    }
    app.state.access = AccessState(auth_on=True, store=store)
    with TestClient(app) as c:
        yield c, keys


def test_unlisted_route_is_admin_only(client: Any) -> None:
    c, keys = client
    r = c.post("/v1/unlisted")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert (
        c.post("/v1/unlisted", headers={"x-api-key": "pt_0123456789abcdef_" + "x" * 43}).status_code
        == 401
    )
    assert c.post("/v1/unlisted", headers={"x-api-key": keys[Role.READER]}).status_code == 403
    assert c.post("/v1/unlisted", headers={"x-api-key": keys[Role.SUBMITTER]}).status_code == 403
    r = c.post("/v1/unlisted", headers={"x-api-key": keys[Role.ADMIN]})
    assert r.status_code == 200 and r.json() == {"owner": "admin"}
    assert c.get("/healthz").status_code == 200  # public without a key
