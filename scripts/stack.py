"""``make up`` / ``make down``: the distributed stack on one machine, one process per service.

    python scripts/stack.py up      # RUN_DIR (default ./run), PARSERS=2, ENRICHERS=1
    python scripts/stack.py down    # stops exactly what ``up`` started (PIDs in RUN_DIR)

``up`` starts, on loopback: a private RabbitMQ node (its own epmd, node name, ports, mnesia and
log dirs under RUN_DIR; skipped when PCAPTOTAL_BUS_URL is set), SeaweedFS S3 (``weed mini``;
skipped when PCAPTOTAL_BLOB_URL is set), osmem-server as the index (skipped when
PCAPTOTAL_INDEX_URL is set, e.g. an Elasticsearch/OpenSearch URL), then ingest, search-api,
PARSERS parsers, ENRICHERS enrichers and the gateway: the one API origin on
PCAPTOTAL_HTTP_PORT (default 8080). Every process runs in its own session; ``down`` signals
each process group (SIGTERM, then SIGKILL after GRACE_S) in reverse start order, after
checking the PID still names the process it started (start time from /proc).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

S3_KEY = "pcaptotal"
# Every process ``up`` starts carries this in its environment, and so do its descendants
# (erl_child_setup and inet_gethost start their own sessions, out of the process group).
MARKER = "PCAPTOTAL_STACK_RUN_DIR"
GRACE_S = 40.0  # above the services' 30 s graceful shutdown
READY_TIMEOUT_S = 120.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_block(n: int) -> int:
    """A base port with +0..n-1 and +10000.. free (weed's gRPC ports are port+10000)."""
    for _ in range(500):
        base = 20000 + secrets.randbelow(20000)
        try:
            for p in [base + i for i in range(n)] + [base + 10000 + i for i in range(n)]:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    raise SystemExit("no free port block for SeaweedFS")


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a reused PID from the process we started."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _bin(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


class Stack:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state_path = run_dir / "state.json"
        self.procs: list[dict[str, Any]] = []
        self.urls: dict[str, str] = {}

    def save(self) -> None:
        state = {"procs": self.procs, "urls": self.urls}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_path)

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        env = {**env, MARKER: str(self.run_dir)}
        log = (self.run_dir / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: down signals it and its children
            cwd=self.run_dir,
        )
        self.procs.append({"name": name, "pid": proc.pid, "start": _start_time(proc.pid)})
        self.save()  # recorded at once: a failed ``up`` can still be brought down
        return proc

    def log_tail(self, name: str) -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _wait(check: Any, proc: subprocess.Popen[bytes], stack: Stack, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited:\n{stack.log_tail(name)}")
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not become ready:\n{stack.log_tail(name)}")


def _http_ok(url: str, *, any_answer: bool = False) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except urllib.error.HTTPError:
        return any_answer
    except OSError:
        return False


def _tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_rabbitmq(stack: Stack, base_env: dict[str, str]) -> str:
    d = stack.run_dir / "rabbitmq"
    d.mkdir(exist_ok=True)
    (d / "enabled_plugins").write_text("[].\n")  # no management UI: nothing on 15672
    amqp, dist, epmd = _port(), _port(), _port()
    (d / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\nloopback_users.guest = true\n"
    )
    epmd_bin = shutil.which("epmd") or next(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))
    # Our own epmd on a private port (in the foreground, so it has a PID we own).
    env = {**base_env, "ERL_EPMD_ADDRESS": "127.0.0.1"}
    stack.spawn("epmd", [str(epmd_bin), "-port", str(epmd)], env)
    server = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not the Debian wrapper: it su's away
    if not Path(server).exists():
        server = _bin("rabbitmq-server")
    node = f"pcaptotal-{secrets.token_hex(4)}@localhost"
    env = {
        **base_env,
        "HOME": str(d),  # own Erlang cookie
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
        "RABBITMQ_LOG_BASE": str(d / "log"),
        "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
        "RABBITMQ_LOGS": "-",
    }
    proc = stack.spawn("rabbitmq", [server], env)
    _wait(lambda: _tcp_open(amqp), proc, stack, "rabbitmq")
    _wait(
        lambda: b"Server startup complete" in _log_bytes(stack, "rabbitmq"), proc, stack, "rabbitmq"
    )
    stack.urls["rabbitmq_node"] = node
    return f"amqp://guest:guest@127.0.0.1:{amqp}/"


def _log_bytes(stack: Stack, name: str) -> bytes:
    path = stack.run_dir / "logs" / f"{name}.log"
    return path.read_bytes() if path.exists() else b""


def _start_seaweed(stack: Stack, base_env: dict[str, str]) -> str:
    d = stack.run_dir / "seaweedfs"
    d.mkdir(exist_ok=True)
    secret = secrets.token_hex(16)
    base = _port_block(8)
    env = {**base_env, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": secret}
    cmd = [
        _bin("weed"), "mini", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
        f"-s3.port={base}", f"-master.port={base + 1}", f"-volume.port={base + 2}",
        f"-filer.port={base + 3}", f"-admin.port={base + 4}", f"-debug.port={base + 5}",
        f"-metricsPort={base + 6}",
    ]  # fmt: skip
    proc = stack.spawn("seaweedfs", cmd, env)
    _wait(lambda: _http_ok(f"http://127.0.0.1:{base}/", any_answer=True), proc, stack, "seaweedfs")
    return f"s3://{S3_KEY}:{secret}@127.0.0.1:{base}/pcaptotal"


def _start_osmem(stack: Stack, base_env: dict[str, str]) -> str:
    from osmem_server import resolve_binary

    port = _port()
    cmd = [resolve_binary(), "-addr", f"127.0.0.1:{port}", "-no-stdin-watch", "-no-ja"]
    proc = stack.spawn("osmem", cmd, base_env)
    _wait(lambda: _http_ok(f"http://127.0.0.1:{port}/", any_answer=True), proc, stack, "osmem")
    return f"http://127.0.0.1:{port}"


def up(run_dir: Path) -> None:
    if (run_dir / "state.json").exists():
        raise SystemExit(f"{run_dir} has a running stack: make down first (or RUN_DIR=...)")
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    stack = Stack(run_dir)
    # Only what the services need from the caller's environment, and no PCAPTOTAL_* leaking
    # from ``make`` (its PCAPTOTAL_DATA_DIR / HTTP_PORT are the all-in-one runner's).
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PCAPTOTAL_")}
    try:
        bus = os.environ.get("PCAPTOTAL_BUS_URL") or _start_rabbitmq(stack, base_env)
        blobs = os.environ.get("PCAPTOTAL_BLOB_URL") or _start_seaweed(stack, base_env)
        index = os.environ.get("PCAPTOTAL_INDEX_URL") or _start_osmem(stack, base_env)
        _start_services(stack, base_env, bus, blobs, index)
    except BaseException:
        print("up failed; stopping what was started", file=sys.stderr)
        down(run_dir)
        raise


def _access_env(stack: Stack) -> dict[str, str]:
    """One server secret for every service (they must hash keys alike) and a first admin key,
    kept in ``<run dir>/admin-key`` (0600) unless the caller gave its own."""
    env: dict[str, str] = {}
    if not os.environ.get("PCAPTOTAL_AUTH_SECRET"):
        env["PCAPTOTAL_AUTH_SECRET"] = secrets.token_hex(32)
    key = os.environ.get("PCAPTOTAL_BOOTSTRAP_ADMIN_KEY")
    if not key:
        key = env["PCAPTOTAL_BOOTSTRAP_ADMIN_KEY"] = "pt_admin_" + secrets.token_urlsafe(32)
        path = stack.run_dir / "admin-key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        print(f"admin API key stored in {path} (readable by this user only)")
    return env


def _start_services(
    stack: Stack, base_env: dict[str, str], bus: str, blobs: str, index: str
) -> None:
    parsers = int(os.environ.get("PARSERS", "2"))
    enrichers = int(os.environ.get("ENRICHERS", "1"))
    origin = int(os.environ.get("PCAPTOTAL_HTTP_PORT", "8080"))
    passthrough = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("PCAPTOTAL_")
        and k not in ("PCAPTOTAL_DATA_DIR", "PCAPTOTAL_HTTP_PORT", "PCAPTOTAL_HTTP_HOST")
    }
    common = {
        **base_env,
        **passthrough,
        "PCAPTOTAL_BUS_URL": bus,
        "PCAPTOTAL_BLOB_URL": blobs,
        "PCAPTOTAL_INDEX_URL": index,
        "PCAPTOTAL_HTTP_HOST": "127.0.0.1",
        "PCAPTOTAL_BUS_QUEUE_MAX_LENGTH": os.environ.get(
            "PCAPTOTAL_BUS_QUEUE_MAX_LENGTH", "100000"
        ),
        # Enricher replicas share feeds through one directory, as through a volume in k8s.
        "PCAPTOTAL_INTEL_DIR": str(stack.run_dir / "intel"),
        **_access_env(stack),
    }
    http: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def service(name: str, module: str) -> None:
        port = _port()
        env = {
            **common,
            "PCAPTOTAL_DATA_DIR": str(stack.run_dir / "data" / name),
            "PCAPTOTAL_HTTP_PORT": str(port),
        }
        http[name] = (stack.spawn(name, [sys.executable, "-m", module], env), port)
        stack.urls[name] = f"http://127.0.0.1:{port}"

    service("ingest", "pcaptotal_ingest")
    service("search-api", "pcaptotal_search_api")
    for i in range(parsers):
        service(f"parser-{i}", "pcaptotal_parser")
    for i in range(enrichers):
        service(f"enricher-{i}", "pcaptotal_enricher")
    for name, (proc, port) in http.items():
        _wait(lambda p=port: _http_ok(f"http://127.0.0.1:{p}/readyz"), proc, stack, name)
    gw_env = {
        **base_env,
        "PCAPTOTAL_HTTP_HOST": "127.0.0.1",
        "PCAPTOTAL_HTTP_PORT": str(origin),
        "PCAPTOTAL_GATEWAY_INGEST_URL": stack.urls["ingest"],
        "PCAPTOTAL_GATEWAY_SEARCH_URL": stack.urls["search-api"],
        "PCAPTOTAL_GATEWAY_INTEL_URL": stack.urls["enricher-0"],
    }
    gw = stack.spawn("gateway", [sys.executable, "-m", "pcaptotal_runner.gateway"], gw_env)
    stack.urls["api"] = f"http://127.0.0.1:{origin}"
    stack.save()
    _wait(lambda: _http_ok(f"http://127.0.0.1:{origin}/readyz"), gw, stack, "gateway")
    print(f"PcapTotal is up: {stack.urls['api']}  (logs: {stack.run_dir / 'logs'})")


def _alive(entry: dict[str, Any]) -> bool:
    start = _start_time(int(entry["pid"]))
    return start is not None and start == entry["start"]


def down(run_dir: Path) -> None:
    state_path = run_dir / "state.json"
    if not state_path.exists():
        print(f"nothing to stop in {run_dir}")
        return
    procs: list[dict[str, Any]] = json.loads(state_path.read_text())["procs"]
    # Services first (they drain), then the gateway's upstreams' dependencies.
    for entry in reversed(procs):
        if not _alive(entry):
            continue  # exited already (or its PID now names another process: not ours)
        _signal_group(int(entry["pid"]), signal.SIGTERM)
        _wait_gone(entry, GRACE_S)
        # Children left in the group (erl_child_setup, inet_gethost...) go with it.
        _signal_group(int(entry["pid"]), signal.SIGKILL)
        _wait_gone(entry, 5)
    for pid in marked_pids(run_dir):  # descendants that left the process group
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    state_path.unlink()
    print(f"stopped {len(procs)} processes")


def marked_pids(run_dir: Path) -> list[int]:
    """Processes whose environment names this run dir as theirs (ours and their children)."""
    needle = f"{MARKER}={run_dir}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes() + b"\0"
        except OSError:
            continue
        if needle in environ:
            found.append(int(entry.name))
    return found


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_gone(entry: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pid = int(entry["pid"])
    while time.monotonic() < deadline and _alive(entry):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap if it is our child (in-process tests)
        time.sleep(0.1)


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in ("up", "down"):
        raise SystemExit("usage: stack.py up|down   (RUN_DIR, PARSERS, ENRICHERS)")
    run_dir = Path(os.environ.get("RUN_DIR", "run")).resolve()
    up(run_dir) if sys.argv[1] == "up" else down(run_dir)


if __name__ == "__main__":
    main()
