"""deploy/k8s as an operator would check it: every overlay renders (kubectl kustomize), every
core object passes kubernetes-validate --strict, every custom resource (KEDA, Gateway API,
prometheus-operator) its published CRD schema (npm @kubernetes-models, tests/k8s-crds), checkov
finds nothing but skips that carry a reason, and the rules the README promises hold: probes,
security contexts, resources, grace periods, PDBs, network policies, autoscalers that own
their replicas, one API origin split by method."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pcaptotal.settings import Settings
from pcaptotal_enricher.worker import QUEUE as ENRICHER_QUEUE
from pcaptotal_enricher.worker import EnricherWorker
from pcaptotal_parser.worker import QUEUE as PARSER_QUEUE
from pcaptotal_runner.gateway import GatewaySettings, upstream_for

from tests.paths import REPO

K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "prod-nginx", "single-node")
RENDERED = (*(f"overlays/{o}" for o in OVERLAYS), "monitoring")
CRD_CHECKER = REPO / "tests" / "k8s-crds"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
CR_GROUPS = ("keda.sh/", "gateway.networking.k8s.io/", "monitoring.coreos.com/")
Doc = dict[str, Any]


@cache
def render(path: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed: the manifest checks render with kubectl kustomize")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def _kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def _by_name(docs: tuple[Doc, ...], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in _kind(docs, kind)}


def _is_cr(doc: Doc) -> bool:
    return str(doc["apiVersion"]).startswith(CR_GROUPS)


# --- rendering and schemas ------------------------------------------------------------------


@pytest.mark.parametrize("path", RENDERED)
def test_renders_into_the_pcaptotal_namespace(path: str) -> None:
    docs = render(path)
    assert docs
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "pcaptotal", doc["metadata"]


@pytest.mark.parametrize("path", RENDERED)
def test_core_objects_pass_kubernetes_validate_strict(path: str) -> None:
    version = kubernetes_validate.latest_version()
    core = [d for d in render(path) if not _is_cr(d)]
    for doc in core:
        kubernetes_validate.validate(doc, version, strict=True)


def test_kubernetes_validate_strict_rejects_an_unknown_field() -> None:
    deployment = json.loads(
        json.dumps(_by_name(render("overlays/prod"), "Deployment")["pcaptotal-parser"])
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def _crd_check(docs: list[Doc]) -> dict[str, Any]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node + npm are not installed: the CRD schema check needs them")
    if not (CRD_CHECKER / "node_modules" / "@kubernetes-models" / "keda").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=CRD_CHECKER, check=True, timeout=300
        )
    out = subprocess.run(
        [node, "validate.mjs"],
        cwd=CRD_CHECKER,
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_custom_resources_match_their_published_schemas() -> None:
    crs = [d for path in RENDERED for d in render(path) if _is_cr(d)]
    kinds = {d["kind"] for d in crs}
    assert {"ScaledObject", "TriggerAuthentication", "HTTPRoute", "Gateway"} <= kinds
    assert {"PodMonitor", "PrometheusRule"} <= kinds
    result = _crd_check(crs)
    assert result == {"checked": len(crs), "problems": []}


def test_crd_schema_check_can_fail() -> None:
    bad = json.loads(
        json.dumps(_by_name(render("overlays/prod"), "ScaledObject")["pcaptotal-parser"])
    )
    bad["spec"]["triggers"] = "rabbitmq"
    route = json.loads(json.dumps(_by_name(render("overlays/prod"), "HTTPRoute")["pcaptotal"]))
    route["spec"]["rules"][0]["matches"][0]["method"] = "UPLOAD"
    result = _crd_check([bad, route])
    assert result["checked"] == 0 and len(result["problems"]) == 2


def test_checkov_finds_nothing_but_skips_with_reasons(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run `make tools` (its own venv, .venv-checkov)")
    for path in RENDERED:
        target = tmp_path / (path.replace("/", "-") + ".yaml")
        target.write_text(yaml.safe_dump_all(render(path)))
    out = subprocess.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        (c["check_id"], c["resource"])
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    skipped = [c for r in reports for c in r.get("results", {}).get("skipped_checks", [])]
    assert skipped, "the dev dependencies' skips should show"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(str(reason).strip()) > 10, check["check_id"]
    assert sum(r["summary"]["passed"] for r in reports) > 1000


def test_hadolint_finds_nothing_in_the_dockerfiles(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint") or str(
        Path(Path(__import__("sys").executable).parent, "hadolint")
    )
    out = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install -y tshark\n")
    out = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "DL3006" in out.stdout and "DL3008" in out.stdout


def _stages(text: str) -> dict[str, list[str]]:
    """Each ``FROM ... AS name`` stage's lines."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if m := re.match(r"^FROM (\S+) AS ([\w-]+)$", line):
            current = stages.setdefault(m[2], [f"FROM {m[1]}"])
        else:
            current.append(line)
    return stages


def test_dockerfile_is_multi_stage_non_root_and_pinned() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:[\w.-]+@sha256:[0-9a-f]{64}$", text, re.M)
    stages = _stages(text)
    # The compiler stays in the build stage; the runtime copies only the virtualenv.
    assert stages["build"][0] == "FROM ${PYTHON_IMAGE}" == stages["runtime"][0]
    assert "COPY --from=build /venv /venv" in stages["runtime"]
    for name in ("ingest", "search-api", "enricher", "parser", "runner"):
        lines = stages[name]
        assert lines[0] in ("FROM runtime", "FROM runtime-tshark"), name
        module = [
            m[1] for x in lines if (m := re.match(r'^CMD \["python", "-m", "([\w.]+)"\]$', x))
        ]
        assert len(module) == 1 and __import__("importlib").util.find_spec(module[0]), name
    # Every stage an image is made from ends as the unprivileged user.
    for name in ("runtime", "runtime-tshark"):
        users = [x for x in stages[name] if x.startswith("USER ")]
        assert users[-1] == "USER 10001:10001", name
    assert stages["parser"][0] == stages["runner"][0] == "FROM runtime-tshark"


def test_bake_builds_every_image_the_manifests_use() -> None:
    bake = (REPO / "docker-bake.hcl").read_text()
    assert 'dockerfile = "deploy/Dockerfile"' in bake
    targets = dict(re.findall(r'target "([\w-]+)" \{\s*inherits[^}]*?target\s+= "([^"]+)"', bake))
    stages = _stages(DOCKERFILE.read_text())
    for name, stage in targets.items():
        assert stage in stages, name
        assert f'"${{REGISTRY}}/{name}:${{TAG}}"' in bake
    used = {
        c["image"].split("/")[-1].split(":")[0].split("@")[0]
        for path in RENDERED
        for d in _kind(render(path), "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert used <= set(targets), used - set(targets)


# --- what the README promises ------------------------------------------------------------


def _pcaptotal_deployments(path: str) -> list[Doc]:
    return [
        d
        for d in _kind(render(path), "Deployment")
        if d["metadata"]["name"].startswith("pcaptotal")
    ]


@pytest.mark.parametrize("path", [f"overlays/{o}" for o in OVERLAYS])
def test_deployments_are_locked_down_probed_and_sized(path: str) -> None:
    for d in _pcaptotal_deployments(path):
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] >= 10000, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert "startupProbe" in c, name
            res = c["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(
                res["limits"]
            )
            # Secrets only as files: no variable takes its value from a Secret.
            assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in c.get("env", [])), name
            assert not any("secretRef" in e for e in c.get("envFrom", [])), name
        for v in pod["volumes"]:
            if "emptyDir" in v:
                assert v["emptyDir"].get("sizeLimit"), (name, v["name"])


def test_workers_are_probed_and_scaled_on_their_queues() -> None:
    docs = render("overlays/prod")
    scaled = _by_name(docs, "ScaledObject")
    queues = {
        s["spec"]["scaleTargetRef"]["name"]: s["spec"]["triggers"][0]["metadata"]["queueName"]
        for s in scaled.values()
    }
    assert queues == {"pcaptotal-parser": PARSER_QUEUE, "pcaptotal-enricher": ENRICHER_QUEUE}
    for s in scaled.values():
        assert s["spec"]["triggers"][0]["metadata"]["mode"] == "QueueLength"
        assert int(s["spec"]["triggers"][0]["metadata"]["value"]) >= 1
        assert s["spec"]["minReplicaCount"] >= 2  # prod: HA


@pytest.mark.parametrize("path", ["overlays/dev", "overlays/prod", "overlays/prod-nginx"])
def test_autoscalers_own_replicas(path: str) -> None:
    docs = render(path)
    owned = {h["spec"]["scaleTargetRef"]["name"] for h in _kind(docs, "HorizontalPodAutoscaler")}
    owned |= {s["spec"]["scaleTargetRef"]["name"] for s in _kind(docs, "ScaledObject")}
    deployments = _by_name(docs, "Deployment")
    assert set(deployments) == owned  # every Deployment autoscaled...
    for name in owned:
        assert "replicas" not in deployments[name]["spec"], name  # ...and none pinned
    assert set(_by_name(docs, "PodDisruptionBudget")) == set(deployments)


def test_grace_periods_outlast_the_slowest_stage() -> None:
    s = Settings()
    deployments = _by_name(render("overlays/prod"), "Deployment")
    grace = {
        n: d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for n, d in deployments.items()
    }
    assert grace["pcaptotal-parser"] > s.parse_timeout_s
    assert min(grace.values()) > 30  # uvicorn's graceful shutdown


def test_parser_memory_limit_follows_the_sizing_rule() -> None:
    docs = render("overlays/prod")
    config = _by_name(docs, "ConfigMap")["pcaptotal-config"]["data"]
    parser = _by_name(docs, "Deployment")["pcaptotal-parser"]["spec"]["template"]["spec"]
    limit = parser["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    # per capture in flight: its tsharks and its parse process; then the worker itself
    tsharks = int(config["PCAPTOTAL_PARSER_WORKERS"]) * int(
        config["PCAPTOTAL_TSHARK_MEMORY_LIMIT_MB"]
    )
    parse = int(config["PCAPTOTAL_PARSER_MEMORY_LIMIT_MB"])
    need = int(config["PCAPTOTAL_PARSER_PREFETCH"]) * (tsharks + parse) + 256
    assert int(limit[:-2]) >= need
    assert int(parser["containers"][0]["resources"]["limits"]["cpu"]) == int(
        config["PCAPTOTAL_PARSER_WORKERS"]
    )


def test_enricher_memory_limit_follows_the_sizing_rule() -> None:
    docs = render("overlays/prod")
    config = _by_name(docs, "ConfigMap")["pcaptotal-config"]["data"]
    enricher = _by_name(docs, "Deployment")["pcaptotal-enricher"]["spec"]["template"]["spec"]
    limit = enricher["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Gi")
    # the captures in flight, each with its analysis process; then the worker and its feeds
    in_flight = inspect.signature(EnricherWorker.start).parameters["prefetch"].default
    analysis = int(config["PCAPTOTAL_ENRICHER_MEMORY_LIMIT_MB"])
    assert int(limit[:-2]) * 1024 >= in_flight * analysis + 1024
    # a core for a capture's analysis process and one for the worker indexing meanwhile
    assert int(enricher["containers"][0]["resources"]["limits"]["cpu"]) >= 2


@pytest.mark.parametrize("path", [f"overlays/{o}" for o in OVERLAYS])
def test_network_policies_cover_every_pod_and_keep_workers_closed(path: str) -> None:
    docs = render(path)
    policies = _kind(docs, "NetworkPolicy")

    def selects(policy: Doc, labels: dict[str, str]) -> bool:
        sel = policy["spec"]["podSelector"]
        if any(labels.get(k) != v for k, v in sel.get("matchLabels", {}).items()):
            return False
        for e in sel.get("matchExpressions", []):
            if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
                return False
            if e["operator"] == "Exists" and e["key"] not in labels:
                return False
        return True

    for w in _kind(docs, "Deployment") + _kind(docs, "StatefulSet"):
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert any(selects(p, labels) for p in policies), w["metadata"]["name"]
    if path != "overlays/single-node":
        assert any(p["spec"]["podSelector"] == {} for p in policies)  # default deny
        parser = {
            "app.kubernetes.io/name": "pcaptotal-parser",
            "app.kubernetes.io/part-of": "pcaptotal",
        }
        for p in policies:
            if selects(p, parser):
                for rule in p["spec"].get("ingress", []):
                    # only Prometheus, from namespace monitoring
                    assert rule["from"] == [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                            }
                        }
                    ], p["metadata"]["name"]


def _route(route: Doc, method: str, path: str) -> str:
    """The backend the HTTPRoute sends a request to (Gateway API precedence: exact path, then
    longest prefix, then a method match)."""
    best: tuple[int, int, int] | None = None
    backend = ""
    for rule in route["spec"]["rules"]:
        for m in rule["matches"]:
            kind, value = m["path"]["type"], m["path"]["value"]
            if m.get("method", method) != method:
                continue
            if kind == "Exact" and path != value:
                continue
            if kind == "PathPrefix" and not (
                path == value or path.startswith(value.rstrip("/") + "/") or value == "/"
            ):
                continue
            rank = (kind == "Exact", len(value), "method" in m)
            if best is None or rank > best:
                best, backend = rank, rule["backendRefs"][0]["name"]
    return backend


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/captures"),
        ("GET", "/v1/captures"),
        ("GET", "/v1/captures/abc"),
        ("GET", "/v1/search"),
        ("GET", "/v1/intel/feeds"),
        ("POST", "/v1/intel/feeds"),
        ("DELETE", "/v1/intel/feeds/x"),
        ("GET", "/v1/intelligence"),
        ("GET", "/openapi.json"),
    ],
)
def test_httproute_routes_like_the_local_gateway(method: str, path: str) -> None:
    route = _by_name(render("overlays/prod"), "HTTPRoute")["pcaptotal"]
    names = {
        "ingest": "pcaptotal-ingest",
        "search": "pcaptotal-search-api",
        "intel": "pcaptotal-enricher",
    }
    local = GatewaySettings(
        gateway_ingest_url="ingest", gateway_search_url="search", gateway_intel_url="intel"
    )
    assert _route(route, method, path) == names[upstream_for(method, path, local)]


def test_nginx_alternative_limits_bodies_like_ingest() -> None:
    ingress = _by_name(render("overlays/prod-nginx"), "Ingress")["pcaptotal"]
    limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert limit == f"{Settings().max_upload_bytes // (1 << 20)}m"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == "pcaptotal-gateway"
    gateway = _by_name(render("overlays/prod-nginx"), "Deployment")["pcaptotal-gateway"]
    assert (
        gateway["spec"]["template"]["spec"]["containers"][0]["command"][2]
        == "pcaptotal_runner.gateway"
    )
    assert "HTTPRoute" not in {d["kind"] for d in render("overlays/prod-nginx")}


def test_settings_named_in_config_exist() -> None:
    known = {f"PCAPTOTAL_{n.upper()}" for n in Settings.model_fields} | {"PCAPTOTAL_SECRETS_DIR"}
    known |= {f"PCAPTOTAL_{n.upper()}" for n in GatewaySettings.model_fields}
    for path in RENDERED:
        docs = render(path)
        names = [
            k
            for c in _kind(docs, "ConfigMap")
            for k in c.get("data", {})
            if k.startswith("PCAPTOTAL_")
        ]
        names += [
            k
            for s in _kind(docs, "Secret")
            for k in s.get("data", {})
            if k.startswith("PCAPTOTAL_")
        ]
        for d in _kind(docs, "Deployment"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                names += [e["name"] for e in c.get("env", []) if e["name"].startswith("PCAPTOTAL_")]
        assert set(names) <= known, set(names) - known


def test_prod_takes_secrets_from_outside_and_dev_generates_them() -> None:
    assert _kind(render("overlays/prod"), "Secret") == []
    dev = _by_name(render("overlays/dev"), "Secret")
    assert {"pcaptotal-secrets", "pcaptotal-keda"} <= set(dev)
    assert set(dev["pcaptotal-secrets"]["data"]) == {"PCAPTOTAL_BUS_URL", "PCAPTOTAL_BLOB_URL"}
    config = _by_name(render("overlays/prod"), "ConfigMap")["pcaptotal-config"]["data"]
    assert "@" not in config["PCAPTOTAL_INDEX_URL"]  # credentials come from the Secret
    assert config["PCAPTOTAL_INDEX_CA_FILE"].startswith("/run/secrets/pcaptotal-index-ca/")
