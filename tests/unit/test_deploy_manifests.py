"""The Kubernetes manifests parse, and every command and image they name exists here."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import REPO

K8S = REPO / "deploy" / "k8s"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc.get("kind") != "Deployment":
        return []
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_parses_and_names_real_things(path: Path) -> None:
    docs = _docs(path)
    assert docs
    if path.name == "kustomization.yaml":
        for res in docs[0].get("resources", []):
            assert (path.parent / res).exists(), res
        return
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc)
        for c in _containers(doc):
            service = c["image"].split("/")[1].split(":")[0]
            dockerfile = REPO / "services" / service / "Dockerfile"
            assert dockerfile.exists(), service
            if "command" not in c:  # the image's own CMD runs
                assert "CMD" in dockerfile.read_text()
            if "command" in c:
                assert importlib.util.find_spec(c["command"][2]) is not None, c["command"]
