"""compose.yaml is a valid Compose file (the Compose Specification's JSON schema, vendored under
tests/data/schemas, after ``${VAR:-default}`` interpolation as ``docker compose`` does it) and
names only things that exist here: Dockerfiles, modules, settings."""

from __future__ import annotations

import importlib.util
import json
import re
from typing import Any

import jsonschema_rs
import pytest
import yaml
from pcaptotal.settings import Settings

from tests.paths import DATA, REPO

COMPOSE = REPO / "compose.yaml"
SCHEMA = DATA / "schemas" / "compose-spec" / "compose-spec.json"
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env) for v in node]
    if isinstance(node, str):
        text = _VAR.sub(lambda m: env.get(m.group(1), m.group(2) or ""), node)
        # Compose converts interpolated numbers where the schema wants integers.
        return int(text) if text.isdigit() and text != node else text
    return node


def _compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = _interpolate(yaml.safe_load(COMPOSE.read_text()), env or {})
    return {k: v for k, v in doc.items() if not k.startswith("x-")}


@pytest.mark.parametrize("env", [{}, {"PARSERS": "4", "ENRICHERS": "2"}])
def test_compose_file_matches_the_compose_spec(env: dict[str, str]) -> None:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    doc = _compose(env)
    errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert doc["services"]["parser"]["deploy"]["replicas"] == int(env.get("PARSERS", "2"))


def test_schema_rejects_a_broken_compose_file() -> None:
    """The check can fail: a wrong type and an unknown key are reported."""
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    doc = _compose()
    doc["services"]["parser"]["deploy"]["replicas"] = "many"
    doc["services"]["ingest"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(doc))) >= 2


def test_compose_names_real_dockerfiles_modules_and_settings() -> None:
    doc = _compose()
    known = {f"PCAPTOTAL_{name.upper()}" for name in Settings.model_fields}
    known |= {"PCAPTOTAL_GATEWAY_INGEST_URL", "PCAPTOTAL_GATEWAY_SEARCH_URL"}
    known |= {"PCAPTOTAL_GATEWAY_INTEL_URL"}
    ours = {n: s for n, s in doc["services"].items() if "build" in s}
    assert set(ours) == {"ingest", "search-api", "parser", "enricher", "gateway"}
    for name, svc in ours.items():
        dockerfile = REPO / svc["build"]["dockerfile"]
        assert dockerfile.is_file(), name
        target = svc["build"]["target"]
        assert f" AS {target}\n" in dockerfile.read_text(), (name, target)
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        for var in svc["environment"]:
            assert not var.startswith("PCAPTOTAL_") or var in known, (name, var)
        if "command" in svc:
            assert importlib.util.find_spec(svc["command"][2]) is not None, svc["command"]
    # One origin, on loopback only; the dependencies are on the internal network alone.
    assert [s for s in doc["services"] if "ports" in doc["services"][s]] == ["gateway"]
    assert doc["services"]["gateway"]["ports"][0].startswith("127.0.0.1:")
    assert doc["networks"]["internal"]["internal"] is True
