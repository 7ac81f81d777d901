"""Access control over HTTP, against the runner with PCAPTOTAL_AUTH=on and a bootstrap admin
key. Routes are enumerated from the OpenAPI document, so routes added later are covered:

* every operation: no key / a bad key -> 401; a role below the table's -> 403; enough -> neither;
* two owners, each with a private and a public capture: with Bob's key, every GET route called
  with Alice's private capture id (and its flow, file, values, and a query matching its records)
  answers exactly as for a capture that does not exist, and no answer names her capture;
* Alice and admins see it; re-uploading Alice's private bytes reveals nothing; revoked keys stop.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pcaptotal.access.roles import listed, required_role

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.paths import PCAPS

pytestmark = pytest.mark.e2e

ADMIN_KEY = "e2e-bootstrap-" + secrets.token_hex(16)
RANK = {"reader": 1, "submitter": 2, "admin": 3}
FAKE_IP = "203.0.113.77"  # TEST-NET-3: in no capture
SINCE = "2000-01-01T00:00:00Z"
PRIVATE_CAPTURE = PCAPS / "zeek_http-zip-download.pcap"  # has a carved file
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("access")
    env = {"PCAPTOTAL_AUTH": "on", "PCAPTOTAL_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    srv = start_server(d / "data", d / "server.log", **env)
    yield srv
    stop_server(srv)
    assert ADMIN_KEY not in srv.log_path.read_text()  # keys never reach the log


def _client(server: Server, key: str | None) -> httpx.Client:
    headers = {"x-api-key": key} if key else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=60)


def _upload(server: Server, key: str, path: Path, visibility: str) -> httpx.Response:
    with _client(server, key) as c:
        return c.post(
            "/v1/captures",
            files={"file": (path.name, path.read_bytes())},
            data={"visibility": visibility},
        )


@pytest.fixture(scope="module")
def world(server: Server) -> Doc:
    keys: dict[str, str] = {"admin": ADMIN_KEY}
    with _client(server, ADMIN_KEY) as admin:
        for owner, role in (("alice", "submitter"), ("bob", "submitter"), ("carol", "reader")):
            r = admin.post("/v1/keys", json={"owner": owner, "role": role})
            assert r.status_code == 201, r.text
            assert set(r.json()) == {"id", "key", "owner", "role"}
            keys[owner] = r.json()["key"]
    ids = {}
    for name, owner, path, vis in (
        ("alice_private", "alice", PRIVATE_CAPTURE, "private"),
        ("alice_public", "alice", PCAPS / "zeek_icmp-5-pings.pcap", "public"),
        ("bob_private", "bob", PCAPS / "zeek_dns-txt-multiple.pcap", "private"),
        ("bob_public", "bob", PCAPS / "tcpdump_dns-over-tcp.pcap", "public"),
    ):
        r = _upload(server, keys[owner], path, vis)
        assert r.status_code == 202, r.text
        ids[name] = r.json()["capture_id"]
    admin_h = {"x-api-key": ADMIN_KEY}
    for cid in ids.values():
        assert wait_finished(server.base_url, cid, headers=admin_h)["status"] == "done"
    priv = ids["alice_private"]
    with _client(server, ADMIN_KEY) as admin:
        flows = admin.get(f"/v1/captures/{priv}/flows", params={"limit": 500}).json()["hits"]
        files = admin.get(f"/v1/captures/{priv}/files", params={"limit": 5}).json()["hits"]
        unique_ip = None  # an address only Alice's private capture has
        for ip in sorted({f["destination.ip"] for f in flows if f.get("destination.ip")}):
            q = f'destination.ip:"{ip}" AND NOT pcaptotal.capture_id:{priv}'
            if admin.get("/v1/search", params={"q": q}).json()["total"] == 0:
                unique_ip = ip
                break
    assert unique_ip is not None and files, "the private capture needs a unique IP and a file"
    return {
        "keys": keys,
        "ids": ids,
        "flow_id": flows[0]["event.id"],
        "file_sha": files[0]["file.hash.sha256"][0]
        if isinstance(files[0]["file.hash.sha256"], list)
        else files[0]["file.hash.sha256"],
        "ip": unique_ip,
    }


@pytest.fixture(scope="module")
def doc(server: Server) -> Doc:
    openapi: Doc = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    return openapi


def _operations(doc: Doc) -> Iterator[tuple[str, str, Doc]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def _needed(op: Doc) -> str | None:
    """The role an operation needs, as the running server documents it: keyed operations
    declare 401; the table is checked against the server's answers below."""
    return None if op.get("security") == [{}] else "keyed"


# -- roles on every operation -------------------------------------------------------------------


def _harmless_path(path: str) -> str:
    """Path parameters that name nothing: an allowed call changes nothing."""
    values = {
        "capture_id": "0" * 64,
        "key_id": "f" * 16,
        "name": "no-such-feed.txt",
        "flow_id": "tcp-0",
        "n": "1",
        "sha256": "0" * 64,
        "value": FAKE_IP,
        "md5": "0" * 32,
        "search_id": "0" * 32,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_operation_checks_the_key_and_the_role(server: Server, world: Doc, doc: Doc) -> None:
    keys = world["keys"]
    checked = 0
    for method, path, op in _operations(doc):
        if _needed(op) is None:
            continue
        entry = required_role(method, path)  # the table the server applies
        assert entry is not None and listed(method, path), f"{method} {path}: not in the table"
        needed = entry.value
        url = _harmless_path(path)
        body: dict[str, Any] = {"content": b"", "headers": {"content-type": "application/json"}}
        for key, expect in ((None, 401), ("pt_0123456789abcdef_" + "x" * 43, 401)):
            with _client(server, key) as c:
                r = c.request(method, url, params={"since": SINCE}, **body)
            assert r.status_code == expect, (method, path, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        for role, key in (("reader", keys["carol"]), ("submitter", keys["bob"])):
            with _client(server, key) as c:
                r = c.request(method, url, params={"since": SINCE}, **body)
            if RANK[role] < RANK[needed]:
                assert r.status_code == 403, (method, path, role, r.text)
            else:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
        with _client(server, ADMIN_KEY) as c:
            r = c.request(method, url, params={"since": SINCE}, **body)
        assert r.status_code not in (401, 403), (method, path, "admin", r.text)
        checked += 1
    assert checked >= 30


# -- no leaks -----------------------------------------------------------------------------------


def _call(server: Server, key: str, method: str, path: str, op: Doc, subst: Doc) -> httpx.Response:
    url = re.sub(r"\{(\w+)\}", lambda m: subst[m.group(1)], path)
    params: dict[str, str] = {}
    for p in op.get("parameters", []):
        if p["in"] != "query":
            continue
        name = p["name"]
        if name in ("q", "query"):  # /compat/packettotal/v1/search names it query
            params[name] = f"pcaptotal.capture_id:{subst['capture_id']}"
        elif name == "capture":
            params["capture"] = subst["capture_id"]
        elif name in ("since",):
            params[name] = SINCE
        else:
            assert not p.get("required"), f"{method} {path}: a value for required {name}"
    with _client(server, key) as c:
        return c.request(method, url, params=params)


def _normal(r: httpx.Response, secrets_: list[str]) -> tuple[int, str]:
    text = r.text
    for s in secrets_:
        text = text.replace(s, "<X>")
    return r.status_code, text


def test_private_capture_is_invisible_to_another_owner_on_every_route(
    server: Server, world: Doc, doc: Doc
) -> None:
    priv = world["ids"]["alice_private"]
    fake = secrets.token_hex(32)
    real = {
        "capture_id": priv,
        "flow_id": world["flow_id"],
        "n": "1",
        "sha256": world["file_sha"],
        "value": world["ip"],
        "key_id": "f" * 16,
        "name": "no-such-feed.txt",
        "md5": hashlib.md5(PRIVATE_CAPTURE.read_bytes()).hexdigest(),  # the compat routes' id
        "search_id": "0" * 32,
    }
    absent = {**real, "capture_id": fake, "flow_id": world["flow_id"].replace(priv, fake)}
    absent["value"] = FAKE_IP
    absent["md5"] = secrets.token_hex(16)
    hide = [priv, fake, world["ip"], FAKE_IP, real["md5"], absent["md5"]]
    bob = world["keys"]["bob"]
    compared = 0
    for method, path, op in _operations(doc):
        if method != "GET":
            continue
        mine = _call(server, bob, method, path, op, real)
        where = f"GET {path}"
        if _needed(op) is None:  # probes and counters: no capture data, changing numbers
            assert priv not in mine.text and world["ip"] not in mine.text, where
            continue
        nothing = _call(server, bob, method, path, op, absent)
        assert _normal(mine, hide) == _normal(nothing, hide), where
        # An answer may echo what it was asked (as for any value), and nothing else of hers.
        asked = {real[name] for name in re.findall(r"\{(\w+)\}", path)}
        asked |= (
            {priv}
            if any(p["name"] in ("q", "query", "capture") for p in op.get("parameters", []))
            else set()
        )
        for hidden in {priv, world["ip"], world["file_sha"], world["flow_id"]} - asked:
            assert hidden not in mine.text, (where, hidden)
        compared += 1
        # Alice (and admins) do see it where the nonexistent capture is a 404.
        named = "{capture_id}" in path or "{md5}" in path
        if named and nothing.status_code == 404 and "{n}" not in path:
            for key in (world["keys"]["alice"], ADMIN_KEY):
                assert _call(server, key, method, path, op, real).status_code != 404, where
    assert compared >= 20


def test_lists_and_aggregates_leave_out_private_captures(server: Server, world: Doc) -> None:
    ids = world["ids"]
    visible = {
        "bob": {ids["alice_public"], ids["bob_public"], ids["bob_private"]},
        "alice": {ids["alice_public"], ids["bob_public"], ids["alice_private"]},
        "carol": {ids["alice_public"], ids["bob_public"]},
        "admin": set(ids.values()),
    }
    for who, expect in visible.items():
        with _client(server, world["keys"][who]) as c:
            listed = {d["capture_id"] for d in c.get("/v1/captures").json()["captures"]}
            assert listed == expect, who
            hits = c.get("/v1/search", params={"q": "", "limit": 10000}).json()["hits"]
            assert {h["pcaptotal.capture_id"] for h in hits} == expect, who
            for hidden in set(ids.values()) - expect:
                for path in ("/v1/stats", "/v1/rules"):
                    body = c.get(path, params={"since": SINCE}).text
                    assert hidden not in body, (who, path)


def test_reuploading_private_bytes_reveals_nothing(server: Server, world: Doc) -> None:
    ids, keys = world["ids"], world["keys"]
    again = _upload(server, keys["alice"], PRIVATE_CAPTURE, "private")  # her own: dedup
    assert (again.status_code, again.json()["capture_id"]) == (200, ids["alice_private"])
    bobs = _upload(server, keys["bob"], PRIVATE_CAPTURE, "private")  # new to Bob
    assert bobs.status_code == 202 and bobs.json()["capture_id"] not in ids.values()
    public = _upload(server, keys["bob"], PRIVATE_CAPTURE, "public")  # new as public too
    assert public.status_code == 202 and public.json()["capture_id"] not in ids.values()
    with _client(server, keys["bob"]) as c:
        assert c.get(f"/v1/captures/{ids['alice_private']}").status_code == 404


def test_keys_are_listed_without_secrets_and_revocation_works(server: Server, world: Doc) -> None:
    with _client(server, ADMIN_KEY) as admin:
        made = admin.post("/v1/keys", json={"owner": "dave", "role": "reader"}).json()
        listing = admin.get("/v1/keys")
        assert listing.status_code == 200
        assert made["key"] not in listing.text and ADMIN_KEY not in listing.text
        assert {"dave", "alice", "admin"} <= {k["owner"] for k in listing.json()["keys"]}
        with _client(server, made["key"]) as dave:
            assert dave.get("/v1/captures").status_code == 200
            assert admin.delete(f"/v1/keys/{made['id']}").status_code == 204
            assert dave.get("/v1/captures").status_code == 401
        assert admin.delete(f"/v1/keys/{'e' * 16}").status_code == 404
        bad = admin.post("/v1/keys", json={"owner": "x y", "role": "root"})
        assert bad.status_code == 422
