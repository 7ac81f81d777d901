"""``GET /v1/captures/{id}`` answers a body serialised once (``capture_body``) on the runner's
app (access control on, tantivy in process, no workers): the bytes FastAPI's ``CaptureView``
response gave, a write of the capture document seen at once, a private capture kept from
another owner after its owner's GET was cached, and 404s that are not cached."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pcaptotal.access.http import ADMIN_KEY_FILE
from pcaptotal.access.secret import auth_dir
from pcaptotal.access.visibility import private_capture_id
from pcaptotal.captures import new_capture_doc
from pcaptotal.context import Context
from pcaptotal.settings import Settings
from pcaptotal_runner.app import create_app
from pcaptotal_search_api.capture_view import CaptureView

PUB = "ab" * 32
PRIV = private_capture_id("alice", "cd" * 32)
MISSING = "ef" * 32


_BASE = {
    cid: new_capture_doc(cid, size=9, filename=f"{cid[:4]}.pcap") for cid in (PUB, PRIV, MISSING)
}


def _doc(cid: str, vis: str, **extra: Any) -> dict[str, Any]:
    owned = {"visibility": vis, "owner": "alice", "status": "done", "verdict": "clean"}
    return _BASE[cid] | owned | extra


async def _put(ctx: Context, doc: dict[str, Any]) -> None:
    await ctx.index.put_capture(doc)


Api = tuple[TestClient, dict[str, dict[str, str]]]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("body"), auth="on")
    app = create_app(settings, workers=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        admin = {"x-api-key": (auth_dir(settings) / ADMIN_KEY_FILE).read_text().strip()}
        keys = {"admin": admin}
        for owner in ("alice", "bob"):
            r = c.post("/v1/keys", json={"owner": owner, "role": "reader"}, headers=admin)
            assert r.status_code == 201, r.text
            keys[owner] = {"x-api-key": r.json()["key"]}
        assert c.portal is not None
        for doc in (_doc(PUB, "public"), _doc(PRIV, "private")):
            c.portal.call(_put, app.state.ctx, doc)
        yield c, keys


def test_body_is_the_capture_view_and_follows_writes(api: Api) -> None:
    c, keys = api
    first = c.get(f"/v1/captures/{PUB}", headers=keys["bob"])
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-request-id"]
    expected = CaptureView.from_document(_doc(PUB, "public")).model_dump(mode="json")
    assert first.json() == expected
    assert c.get(f"/v1/captures/{PUB}", headers=keys["bob"]).content == first.content
    assert c.portal is not None
    app: Any = c.app
    c.portal.call(_put, app.state.ctx, _doc(PUB, "public", verdict="malicious"))
    again = c.get(f"/v1/captures/{PUB}", headers=keys["bob"])
    assert again.json()["verdict"] == "malicious"


def test_private_stays_private_once_cached(api: Api) -> None:
    c, keys = api
    for _ in range(2):
        assert c.get(f"/v1/captures/{PRIV}", headers=keys["alice"]).status_code == 200
        assert c.get(f"/v1/captures/{PRIV}", headers=keys["admin"]).status_code == 200
        denied = c.get(f"/v1/captures/{PRIV}", headers=keys["bob"])
        assert denied.status_code == 404
        assert denied.headers["content-type"] == "application/problem+json"


def test_missing_then_written_is_found(api: Api) -> None:
    c, keys = api
    assert c.get(f"/v1/captures/{MISSING}", headers=keys["bob"]).status_code == 404
    assert c.portal is not None
    app: Any = c.app
    c.portal.call(_put, app.state.ctx, _doc(MISSING, "public"))
    assert c.get(f"/v1/captures/{MISSING}", headers=keys["bob"]).status_code == 200
    assert c.get("/v1/captures/xyz", headers=keys["bob"]).status_code == 400
