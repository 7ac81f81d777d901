"""A bounded schemathesis run over the whole API of the all-in-one runner (loopback).

One real capture is analysed and one real feed loaded first, so the generated requests reach
the 200 paths too: schemathesis draws ``capture_id``/``capture`` from the real id half of the
time (random strings the other half) and the feed name likewise for ``GET /v1/intel/feeds/
{name}``. The run uses a fixed seed and a fixed number of examples per operation; it must find
no 5xx, no undeclared status, no undeclared content type, no body or header that does not match
the OpenAPI document. The answers only a real capture gives (the upload's 202, the re-upload's
200) are checked against the same document here too. The server runs with PCAPTOTAL_AUTH=on and
every request carries the bootstrap admin key.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from tests.e2e.conftest import Server, start_server, stop_server, wait_finished
from tests.paths import README_CAPTURE

pytestmark = pytest.mark.e2e

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SEED = 20261129
MAX_EXAMPLES = 60  # per operation and phase: 55 operations, about 150-280 s on 2 cores
RUN_TIMEOUT_S = 600
FEED = "schema-test.txt"
ADMIN_KEY = "schema-admin-" + secrets.token_hex(16)
AUTH = {"x-api-key": ADMIN_KEY}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The runner with API keys on: the run is authenticated as an admin."""
    d = tmp_path_factory.mktemp("schema")
    env = {"PCAPTOTAL_AUTH": "on", "PCAPTOTAL_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    srv = start_server(d / "data", d / "server.log", **env)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def real(server: Server) -> dict[str, Any]:
    """The real capture and feed the run can reach; the upload answers, checked below."""
    with httpx.Client(base_url=server.base_url, timeout=60, headers=AUTH) as client:
        data = README_CAPTURE.read_bytes()
        raw = {"content-type": "application/octet-stream", **AUTH}
        first = client.post(
            "/v1/captures", content=data, params={"filename": README_CAPTURE.name}, headers=raw
        )
        assert first.status_code == 202, first.text
        capture_id: str = first.json()["capture_id"]
        assert wait_finished(server.base_url, capture_id, headers=AUTH)["status"] == "done"
        again = client.post(
            "/v1/captures", content=data, params={"filename": "again.pcap"}, headers=raw
        )
        assert again.status_code == 200, again.text
        feed = client.post(
            "/v1/intel/feeds",
            params={"name": FEED},
            content=b"# schema test\nevil.example.com\n",
            headers=raw,
        )
        assert feed.status_code == 201, feed.text
    return {"capture_id": capture_id, "responses": [first, again, feed]}


def test_real_upload_answers_match_the_schema(server: Server, real: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    upload = schema["/v1/captures"]["POST"]
    feeds = schema["/v1/intel/feeds"]["POST"]
    first, again, feed = real["responses"]
    for op, response in ((upload, first), (upload, again), (feeds, feed)):
        op.validate_response(response)  # raises with the mismatch if any
    assert first.headers["location"] == f"/v1/captures/{real['capture_id']}"


def _config(path: Path, capture_id: str) -> Path:
    config = f"""
[dictionaries.captures]
values = [{json.dumps(capture_id)}]

[dictionaries.feeds]
values = [{json.dumps(FEED)}]

[parameters]
"path.capture_id" = {{ dictionary = "captures", probability = 0.5 }}
"query.capture" = {{ dictionary = "captures", probability = 0.5 }}

# Only the read uses the real feed name: a DELETE drawn early would hide it from the rest.
[[operations]]
include-name = "GET /v1/intel/feeds/{{name}}"
parameters = {{ "path.name" = {{ dictionary = "feeds", probability = 0.5 }} }}

# Curated archives: each PUT's answer names the archive, so the stateful phase infers nine
# links among their seven operations and chains them for minutes (420 s alone, measured);
# their sequences are tested in tests/unit/test_archives_curated.py and
# tests/e2e/test_archives_http.py, and the other phases still cover every operation here.
[[operations]]
include-path-regex = "^/v1/archives"
phases.stateful.enabled = false

# In the whole run (not when the archive operations run alone) hypothesis gives up fuzzing
# DELETE /v1/archives/{{name}} with "too many generated examples are filtered out", a health
# check of the generator rather than an answer of the API; the coverage phase still sends it
# its edge cases, and the archive tests delete real archives.
[[operations]]
include-name = "DELETE /v1/archives/{{name}}"
phases.fuzzing.enabled = false
"""
    path.write_text(config)
    return path


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    server: Server, real: dict[str, Any], tmp_path: Path
) -> None:
    config = _config(tmp_path / "schemathesis.toml", real["capture_id"])
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"x-api-key: {ADMIN_KEY}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path)
    took = time.monotonic() - started
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis found problems ({took:.0f} s):\n{out[-20000:]}"
    doc = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    operations = sum(len(ops) for ops in doc["paths"].values())
    assert f"{operations} selected / {operations} total" in out, out[-3000:]
    # The service is still serving after the run.
    assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
    assert ADMIN_KEY not in server.log_path.read_text()  # keys never reach the log
