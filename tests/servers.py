"""Real servers for the integration tiers, started by the tests on loopback and stopped after.

Each server binds 127.0.0.1 only, on free ports, and is ended by the PID we started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

S3_KEY = "pcaptotal"
S3_SECRET = "pcaptotal-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _free_port_block(n: int) -> int:
    """A base port whose +0..n-1 and +10000 (weed's gRPC offset) are all free."""
    for _ in range(200):
        base = 20000 + (os.getpid() * 7 + int(time.time() * 1000)) % 20000
        ok = True
        for p in [base + i for i in range(n)] + [base + 10000 + i for i in range(n)]:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
        time.sleep(0.01)
    raise RuntimeError("no free port block")


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers: good enough (S3 says 403 to anonymous requests)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up: {log.read_text()[-2000:]}")


@dataclass
class Proc:
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _bin(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    return found


def start_seaweed(workdir: Path) -> Proc:
    """SeaweedFS ``weed mini`` serving S3; returns the s3:// URL of a test bucket."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = _free_port_block(8)
    log = workdir / "weed.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    cmd = [
        _bin("weed"), "mini", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
        f"-s3.port={base}", f"-master.port={base + 1}", f"-volume.port={base + 2}",
        f"-filer.port={base + 3}", f"-admin.port={base + 4}", f"-debug.port={base + 5}",
        f"-metricsPort={base + 6}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    _wait_http(f"http://127.0.0.1:{base}/", proc, log)
    return Proc(f"s3://{S3_KEY}:{S3_SECRET}@127.0.0.1:{base}/pcaptotal-test", proc)


def start_osmem(workdir: Path) -> Proc:
    """osmem-server, an in-memory OpenSearch-API server."""
    from osmem_server import resolve_binary

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "osmem.log"
    cmd = [resolve_binary(), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch", "-no-ja"]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    _wait_http(f"http://127.0.0.1:{port}/", proc, log)
    return Proc(f"http://127.0.0.1:{port}", proc)
