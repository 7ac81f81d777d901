"""Trusted hosts (PCAPTOTAL_TRUSTED_HOSTS): the allow-list, its default per bind address, and
400 problem+json for an untrusted Host on every HTTP app (runner, ingest, enricher, search API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pcaptotal.access.hosts import TrustedHostMiddleware, TrustedHosts, host_name, trusted_hosts
from pcaptotal.settings import Settings


def _apps(settings: Settings) -> dict[str, FastAPI]:
    from pcaptotal.service import create_http_app
    from pcaptotal_enricher.__main__ import build_app as enricher_app
    from pcaptotal_ingest.__main__ import build_app as ingest_app
    from pcaptotal_runner.app import create_app
    from pcaptotal_search_api.routes import create_router

    return {
        "runner": create_app(settings, workers=False),
        "ingest": ingest_app(settings),
        "enricher": enricher_app(settings),
        "search-api": create_http_app("PcapTotal search API", settings, [create_router()]),
    }


def test_host_name_strips_port_brackets_and_case() -> None:
    assert host_name("Example.COM:8080") == "example.com"
    assert host_name("example.com.") == "example.com"
    assert host_name("[::1]:8080") == "::1"
    assert host_name("[::1]") == "::1"
    assert host_name("::1") == "::1"  # bare IPv6: colons are not a port
    assert host_name("127.0.0.1:80") == "127.0.0.1"
    assert host_name("[broken") == ""


def test_allow_list_entries() -> None:
    hosts = TrustedHosts.parse("pcaptotal.example.com, *.corp.example ,10.0.0.5,[::1]")
    assert hosts.allows("pcaptotal.example.com")
    assert hosts.allows("PCAPTOTAL.example.com:443")
    assert hosts.allows("a.corp.example") and hosts.allows("b.a.corp.example:80")
    assert not hosts.allows("corp.example")  # '*.' is subdomains only
    assert not hosts.allows("evilcorp.example")
    assert hosts.allows("10.0.0.5:8080") and hosts.allows("[::1]:8080")
    for bad in ("evil.example", "pcaptotal.example.com.evil.example", "", None, "10.0.0.6"):
        assert not hosts.allows(bad), bad
    assert TrustedHosts.parse("*").allows("anything.example")
    assert TrustedHosts.parse(["a", "*"]).any
    with pytest.raises(ValueError):
        TrustedHosts.parse("pcap*.example.com")


@pytest.mark.parametrize(
    ("bind", "given", "host", "allowed"),
    [
        ("127.0.0.1", "", "localhost:8080", True),
        ("127.0.0.1", "", "127.0.0.1:8080", True),
        ("::1", "", "[::1]:8080", True),
        ("127.0.0.1", "", "rebind.attacker.example:8080", False),  # DNS rebinding
        ("0.0.0.0", "", "pcaptotal.example.com", True),  # default off loopback: any
        ("0.0.0.0", "pcaptotal.example.com", "pcaptotal.example.com", True),
        ("0.0.0.0", "pcaptotal.example.com", "10.1.2.3:8080", False),
        ("127.0.0.1", "*", "anything.example", True),  # '*' explicitly
    ],
)
def test_default_depends_on_the_bind_address(
    bind: str, given: str, host: str, allowed: bool
) -> None:
    settings = Settings(http_host=bind, trusted_hosts=given)
    assert trusted_hosts(settings).allows(host) is allowed


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCAPTOTAL_TRUSTED_HOSTS", "a.example,*.b.example")
    hosts = trusted_hosts(Settings())
    assert hosts.allows("a.example") and hosts.allows("x.b.example")
    assert not hosts.allows("localhost")


def test_every_http_app_answers_400_problem_for_an_untrusted_host(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, trusted_hosts="pcaptotal.example.com")
    for name, app in _apps(settings).items():
        # Outermost: nothing (auth, metrics, routes) runs for an untrusted Host.
        outermost: object = app.user_middleware[0].cls
        assert outermost is TrustedHostMiddleware, name
        client = TestClient(app, base_url="http://rebind.attacker.example")
        r = client.get("/v1/captures")
        assert r.status_code == 400, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 400 and body["title"] == "Bad Request"
        assert "attacker" not in r.text  # the bad name is not echoed
        r = client.post("/v1/captures", content=b"x", headers={"Host": "localhost"})
        assert r.status_code == 400, name  # loopback names are not implied by a given list


def test_runner_serves_trusted_hosts(tmp_path: Path) -> None:
    from pcaptotal_runner.app import create_app

    settings = Settings(data_dir=tmp_path, http_host="127.0.0.1", auth="off")
    with TestClient(create_app(settings, workers=False), base_url="http://localhost:8080") as c:
        assert c.get("/v1/captures").status_code == 200
        assert c.get("/v1/captures", headers={"Host": "127.0.0.1:8080"}).status_code == 200
        assert c.get("/v1/captures", headers={"Host": "[::1]:8080"}).status_code == 200
        r = c.get("/v1/captures", headers={"Host": "evil.example:8080"})
        assert r.status_code == 400
        assert r.json()["detail"].startswith("the Host header")
        # Probes and scrapes answer whatever address the kubelet or Prometheus uses.
        for path in ("/healthz", "/readyz", "/metrics"):
            assert c.get(path, headers={"Host": "10.1.2.3:8080"}).status_code == 200, path


def test_gateway_checks_the_host_before_proxying() -> None:
    from pcaptotal_runner.gateway import GatewaySettings, create_gateway

    s = GatewaySettings(
        gateway_ingest_url="http://127.0.0.1:9",  # nothing listens: a proxied request is 502
        gateway_search_url="http://127.0.0.1:9",
        gateway_intel_url="http://127.0.0.1:9",
        http_host="127.0.0.1",
    )
    with TestClient(create_gateway(s), base_url="http://localhost:8080") as c:
        r = c.get("/v1/captures", headers={"Host": "rebind.attacker.example"})
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        assert c.get("/v1/captures").status_code == 502  # trusted: forwarded
        assert c.get("/healthz", headers={"Host": "10.1.2.3"}).status_code == 200
    s = s.model_copy(update={"trusted_hosts": "pcaptotal.example.com"})
    with TestClient(create_gateway(s), base_url="http://pcaptotal.example.com") as c:
        assert c.get("/v1/captures").status_code == 502
        assert c.get("/v1/captures", headers={"Host": "localhost"}).status_code == 400
