"""The image binds 0.0.0.0 only together with auth on, and PCAPTOTAL_AUTH=off is refused on
every HTTP service (runner, ingest, enricher, search API, gateway) bound off loopback.

The image's own environment (deploy/Dockerfile's ENV) is what each service starts with here;
nothing the repository deploys (compose.yaml, deploy/k8s) turns auth off.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pcaptotal.settings import Settings

from tests.paths import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"
_AUTH_OFF = re.compile(r"PCAPTOTAL_AUTH\b[\"']?\s*[:=]\s*[\"']?off\b", re.IGNORECASE)
_AUTH_OFF_K8S = re.compile(r"name:\s*PCAPTOTAL_AUTH\s*\n\s*value:\s*[\"']?off\b")


def image_env() -> dict[str, str]:
    """The ENV of the runtime stage every service target builds on."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stage = text.split("AS runtime\n", 1)[1].split("\nFROM ", 1)[0]
    env: dict[str, str] = {}
    for line in stage.splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def test_image_binds_all_addresses_with_auth_on() -> None:
    env = image_env()
    assert env["PCAPTOTAL_HTTP_HOST"] == "0.0.0.0"
    assert env.get("PCAPTOTAL_AUTH", "on") == "on"
    assert Settings.model_fields["auth"].default == "on"
    # Nothing deployed from here turns auth off (compose, kustomize bases and overlays).
    deployed = [REPO / "compose.yaml", *sorted((REPO / "deploy").rglob("*.y*ml")), DOCKERFILE]
    for path in deployed:
        text = path.read_text()
        assert not _AUTH_OFF.search(text) and not _AUTH_OFF_K8S.search(text), path


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


def _image_settings(monkeypatch: pytest.MonkeyPatch, tmp: Path, auth: str) -> Settings:
    for name, value in image_env().items():
        if name.startswith("PCAPTOTAL_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("PCAPTOTAL_DATA_DIR", str(tmp))  # the image's /data is not here
    monkeypatch.setenv("PCAPTOTAL_AUTH", auth)
    return Settings()


def test_auth_off_refused_by_every_service_of_the_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _image_settings(monkeypatch, tmp_path, "off")
    assert settings.http_host == "0.0.0.0"
    for name in _apps(settings):
        # A data dir each: a refused start leaves its index open (the process then exits).
        app = _apps(settings.model_copy(update={"data_dir": tmp_path / name}))[name]
        with pytest.raises(RuntimeError, match="PCAPTOTAL_AUTH=off is refused"), TestClient(app):
            pass  # the lifespan refuses to start
        assert not hasattr(app.state, "access"), name


def test_the_image_starts_with_auth_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = _image_settings(monkeypatch, tmp_path, "on")
    for name, app in _apps(settings).items():
        with TestClient(app, base_url="http://pcaptotal.example") as c:
            assert app.state.access.auth_on, name
            assert c.get("/v1/keys").status_code == 401, name  # every app has it; no key


def test_gateway_refuses_auth_off_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from pcaptotal_runner.gateway import GatewaySettings, create_gateway

    urls: dict[str, Any] = {
        f"gateway_{n}_url": "http://127.0.0.1:9" for n in ("ingest", "search", "intel")
    }
    with pytest.raises(RuntimeError, match="PCAPTOTAL_AUTH=off is refused"):
        create_gateway(GatewaySettings(**urls, http_host="0.0.0.0", auth="off"))
    monkeypatch.setenv("PCAPTOTAL_AUTH", "off")
    monkeypatch.setenv("PCAPTOTAL_HTTP_HOST", "::")
    with pytest.raises(RuntimeError, match="PCAPTOTAL_AUTH=off is refused"):
        create_gateway(GatewaySettings(**urls))
    create_gateway(GatewaySettings(**urls, http_host="127.0.0.1", auth="off"))  # loopback: ok
    create_gateway(GatewaySettings(**urls, http_host="0.0.0.0", auth="on"))
