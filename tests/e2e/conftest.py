"""Start ``python -m pcaptotal_runner`` (what ``make run`` runs) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass
class Server:
    base_url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(data_dir: Path, log_path: Path, **env: str) -> Server:
    port = _free_port()
    full_env = {
        **os.environ,
        "PCAPTOTAL_DATA_DIR": str(data_dir),
        "PCAPTOTAL_HTTP_PORT": str(port),
        "PCAPTOTAL_HTTP_HOST": "127.0.0.1",
        "PCAPTOTAL_AUTH": "off",  # loopback; tests/e2e/test_access.py passes "on"
        **env,
    }
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcaptotal_runner"], env=full_env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return Server(base, data_dir, proc, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not become ready: {log_path.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("pcaptotal")
    srv = start_server(d / "data", d / "server.log")
    yield srv
    stop_server(srv)


def wait_finished(
    base_url: str, capture_id: str, timeout: float = 180, headers: dict[str, str] | None = None
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{base_url}/v1/captures/{capture_id}", timeout=10, headers=headers)
        r.raise_for_status()
        doc: dict[str, object] = r.json()
        if doc["status"] in ("done", "failed"):
            return doc
        time.sleep(0.1)
    raise TimeoutError(f"capture {capture_id} did not finish in {timeout}s")
