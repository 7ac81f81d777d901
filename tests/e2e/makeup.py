"""The ``make up`` stack (scripts/stack.py) for e2e tests: bring it up in a run dir of the
test's own, restart one of its processes as a supervisor would, bring it down."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.paths import REPO
from tests.servers import free_port

STACK = REPO / "scripts" / "stack.py"


@dataclass
class MadeUp:
    run_dir: Path
    env: dict[str, str]
    urls: dict[str, str]  # "api" (the one origin), "ingest", "search-api", "parser-0", ...
    procs: dict[str, int]  # name -> pid, as started (a restarted process gets a new pid)

    @property
    def api(self) -> str:
        return self.urls["api"]

    def log(self, name: str) -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def restart(self, name: str, *, kill: bool = True) -> int:
        """SIGKILL ``name`` and start it again with the same command, environment and log, as
        a pod restart would; ``make down`` still finds it by the run-dir marker in its
        environment."""
        pid = self.procs[name]
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        raw_env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(e.decode().split("=", 1) for e in raw_env if b"=" in e)
        cwd = os.readlink(f"/proc/{pid}/cwd")
        if kill:
            os.kill(pid, 9)
            with contextlib.suppress(ChildProcessError):  # ours when we restarted it before
                os.waitpid(pid, 0)
            while psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie":
                time.sleep(0.05)  # its sockets close when it is gone
        log = (self.run_dir / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [c.decode() for c in cmd],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs[name] = proc.pid
        return proc.pid


def run_stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STACK), command], env=env, capture_output=True, text=True, timeout=300
    )


def make_up(run_dir: Path, **settings: str) -> MadeUp:
    """``make up`` in ``run_dir``; ``settings`` are extra environment variables (for example
    ``PCAPTOTAL_BUS_URL`` to use a broker of the test's own instead of a private node)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PCAPTOTAL_")},
        "RUN_DIR": str(run_dir),
        "PCAPTOTAL_HTTP_PORT": str(free_port()),
        "PARSERS": "2",
        "ENRICHERS": "1",
        # These tests are about the pipeline, not access control (loopback only, so allowed).
        "PCAPTOTAL_AUTH": "off",
        **settings,
    }
    started = run_stack("up", env)
    if started.returncode != 0:
        run_stack("down", env)
        raise RuntimeError(f"make up failed: {started.stdout}{started.stderr}")
    state: dict[str, Any] = json.loads((run_dir / "state.json").read_text())
    procs = {p["name"]: int(p["pid"]) for p in state["procs"]}
    return MadeUp(run_dir, env, dict(state["urls"]), procs)


def make_down(stack: MadeUp) -> None:
    stopped = run_stack("down", stack.env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def upload(stack: MadeUp, path: Path) -> str:
    with path.open("rb") as fh:
        r = httpx.post(f"{stack.api}/v1/captures", files={"file": (path.name, fh)}, timeout=60)
    assert r.status_code in (200, 202), r.text
    cid: str = r.json()["capture_id"]
    return cid


def wait_all(stack: MadeUp, ids: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """The capture documents once every capture ended ``done`` or ``failed``."""
    docs: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.api, timeout=20) as client:
        while time.monotonic() < deadline:
            for name, cid in ids.items():
                if name in docs:
                    continue
                r = client.get(f"/v1/captures/{cid}")
                if r.status_code == 200 and r.json()["status"] in ("done", "failed"):
                    docs[name] = r.json()
            if len(docs) == len(ids):
                return docs
            time.sleep(0.5)
    missing = sorted(set(ids) - set(docs))
    logs = {n: stack.log(n)[-800:] for n in stack.procs}
    raise AssertionError(f"not finished: {missing}\n{json.dumps(logs, indent=1)}")
