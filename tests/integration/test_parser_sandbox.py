"""tshark runs in the sandbox: unprivileged, no new privileges, no network, private config.

The probes run through ``run_tshark`` itself (the parser's only way to start tshark), with a
script standing in for tshark, so what they see is what tshark sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog.testing
from pcaptotal_parser.parse import parse_capture
from pcaptotal_parser.sandbox import Sandbox, resolve_user
from pcaptotal_parser.tshark import run_tshark

from tests.faults import write_script
from tests.paths import PCAPS
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.integration

ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody").pw_uid

PROBE = """#!/bin/sh
# stands in for tshark: reports what the child can and cannot do, one "key value" per line
echo "uid $(id -u)"
echo "gid $(id -g)"
echo "groups $(id -G)"
awk '/^(NoNewPrivs|CapEff|CapBnd):/ {sub(":", "", $1); print $1, $2}' /proc/self/status
echo "interfaces $(tail -n +3 /proc/self/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"
echo "config $WIRESHARK_CONFIG_DIR $HOME"
echo "config_files $(ls -A "$WIRESHARK_CONFIG_DIR" | wc -l)"
echo "ulimit_v $(ulimit -v)"
echo "ulimit_t $(ulimit -t)"
echo "stdin_bytes $(wc -c)"
if cat "$SECRET" >/dev/null 2>&1; then echo "secret readable"; else echo "secret denied"; fi
if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 3)" \
    "$PORT" 2>/dev/null; then echo "network reached"; else echo "network unreachable"; fi
mkdir -p objects/http && echo carved > objects/http/probe.txt && echo "carve written"
"""


async def run_probe(script: Path, tmp_path: Path, env_port: int) -> dict[str, str]:
    """Run ``script`` as run_tshark runs tshark; its ``key value`` lines as a dict."""
    lines: list[str] = []
    secret = tmp_path / "secret"
    secret.write_text("the parser's private scratch file")
    capture = tmp_path / "capture.pcap"
    capture.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(1000))
    objects = tmp_path / "objects-out"
    wrapper = write_script(
        script.parent,
        "wrapper.sh",
        f"#!/bin/sh\nSECRET={secret} PYTHON={sys.executable} PORT={env_port} exec {script}\n",
    )
    result = await run_tshark(
        capture,
        lines.extend,
        tshark_path=str(wrapper),
        timeout_s=30,
        memory_limit_mb=1024,
        work_dir=tmp_path,
        objects_dir=objects,
    )
    assert result.exit_code == 0, result.warnings
    report = dict(line.split(" ", 1) for line in lines if " " in line)
    report["carved"] = (objects / "http" / "probe.txt").read_text().strip()
    return report


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on the host's loopback: the child must not reach it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


async def test_child_is_unprivileged_without_network(
    public_dir: Path, tmp_path: Path, listener: int
) -> None:
    # the same connection from the parser itself works: the probe's failure is the sandbox
    _reader, writer = await asyncio.open_connection("127.0.0.1", listener)
    writer.close()
    script = write_script(public_dir, "probe.sh", PROBE)
    report = await run_probe(script, tmp_path, listener)
    assert report["NoNewPrivs"] == "1"
    assert report["interfaces"].split() == ["lo"]  # a private network namespace
    assert report["network"] == "unreachable"
    assert report["uid"] != "0"
    if ROOT:
        assert int(report["uid"]) == NOBODY
        assert report["gid"] == str(resolve_user("nobody")[1])
        assert report["groups"] == report["gid"]  # no supplementary groups (root's are gone)
        assert int(report["CapEff"], 16) == 0
        assert int(report["CapBnd"], 16) == 0
        assert report["secret"] == "denied"  # the parser's scratch files are out of reach
    # an empty private configuration, relative to the child's own directory
    assert report["config"] == "config config"
    assert report["config_files"] == "0"
    # today's limits: address space and CPU (run_tshark: timeout + 5 s)
    assert int(report["ulimit_v"]) == 1024 * 1024  # KiB
    assert int(report["ulimit_t"]) == 35
    # the capture arrives on stdin; exported objects reach the caller's directory
    assert int(report["stdin_bytes"]) == 1004
    assert report["carve"] == "written"
    assert report["carved"] == "carved"


async def test_real_parse_under_the_sandbox(public_dir: Path, tmp_path: Path) -> None:
    """tshark itself, through a wrapper that records its privileges, gives the same numbers."""
    record = public_dir / "record"
    record.touch()
    record.chmod(0o666)
    tshark = write_script(
        public_dir,
        "tshark-wrapper.sh",
        "#!/bin/sh\n"
        f"{{ id -u; grep NoNewPrivs /proc/self/status; tail -n +3 /proc/self/net/dev | wc -l; }}"
        f" >> {record}\n"
        'exec tshark "$@"\n',
    )
    path = PCAPS / "zeek_http-bro.org-browse.pcap"
    result = await parse_capture(path, "c" * 64, tshark_path=str(tshark), work_dir=tmp_path)
    assert result.summary.model_dump() == oracle_summary(path)
    assert result.files, "carving works under the sandbox"
    uid, nnp, interfaces = record.read_text().split("\n")[:3]
    assert uid != "0" and (not ROOT or int(uid) == NOBODY)
    assert nnp.split() == ["NoNewPrivs:", "1"]
    assert interfaces == "1"  # lo only
    await result.discard_files()


async def test_split_parse_under_the_sandbox(tmp_path: Path) -> None:
    """Several sandboxed tsharks fed by the splitter: still tshark's numbers and files."""
    path = PCAPS / "zeek_http-bro.org-browse.pcap"
    single = await parse_capture(path, "c" * 64, work_dir=tmp_path)
    split = await parse_capture(path, "c" * 64, work_dir=tmp_path, workers=3, split_min_bytes=0)
    assert split.parts == 3
    assert split.summary.model_dump() == single.summary.model_dump() == oracle_summary(path)
    assert sorted(f.sha256 for f in split.files) == sorted(f.sha256 for f in single.files)
    for result in (single, split):
        await result.discard_files()


def test_box_directory_belongs_to_the_sandbox_user(tmp_path: Path) -> None:
    box = tmp_path / "box"
    (box / "config").mkdir(parents=True)
    Sandbox().prepare(box)
    for entry in (box, box / "config"):
        # root hands the box over; anyone else runs the child as themselves
        assert entry.stat().st_uid == (NOBODY if ROOT else os.geteuid())


NON_ROOT_PARSER = """
import asyncio, json, sys
from pathlib import Path
from pcaptotal_parser.tshark import run_tshark

async def main() -> None:
    work, script = Path(sys.argv[1]), sys.argv[2]
    capture = work / "capture.pcap"
    capture.write_bytes(b"\\xd4\\xc3\\xb2\\xa1" + bytes(100))
    lines: list[str] = []
    await run_tshark(capture, lines.extend, tshark_path=script, timeout_s=30, work_dir=work)
    print(json.dumps(lines))

asyncio.run(main())
"""

NON_ROOT_PROBE = """#!/bin/sh
echo "uid $(id -u)"
awk '/^NoNewPrivs:/ {print "NoNewPrivs", $2}' /proc/self/status
echo "interfaces $(tail -n +3 /proc/self/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"
"""


async def test_parser_not_running_as_root(public_dir: Path) -> None:
    """A parser run by an ordinary user: tshark keeps that user, with no_new_privs and, where
    unprivileged user namespaces are allowed (they are on Debian), no network."""
    script = write_script(public_dir, "probe-nonroot.sh", NON_ROOT_PROBE)
    work = public_dir / "work"
    work.mkdir(mode=0o777)
    work.chmod(0o777)
    command = [sys.executable, "-c", NON_ROOT_PARSER, str(work), str(script)]
    if ROOT:  # become an ordinary user first (the parser process itself, not only tshark)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *command]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    # (as nobody, the parser needs to read the checkout and its venv, as on any deployment)
    assert proc.returncode == 0, err.decode()
    report = dict(text.split(" ", 1) for text in json.loads(out))
    assert report["uid"] == str(NOBODY if ROOT else os.geteuid())
    assert report["NoNewPrivs"] == "1"
    assert report["interfaces"].split() == ["lo"], err.decode()
    assert [p.name for p in work.iterdir()] == ["capture.pcap"]  # the child's box is gone


async def test_without_namespaces_the_child_still_runs_boxed(
    public_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel refuses namespaces (an unshare that fails stands in for it), tshark
    runs all the same, still unprivileged, and the parser says so in its log."""
    fake = write_script(
        public_dir, "unshare", "#!/bin/sh\necho 'unshare: Operation not permitted' >&2\nexit 1\n"
    )
    monkeypatch.setenv("PATH", f"{public_dir}:{os.environ['PATH']}")
    box = Sandbox()
    with structlog.testing.capture_logs() as logs:
        assert await box.namespaces() == []
    assert any("WITHOUT a private network namespace" in e["event"] for e in logs)
    assert "Operation not permitted" in logs[0]["error"] and str(fake) in logs[0]["command"]
    lines: list[str] = []
    capture = tmp_path / "capture.pcap"
    capture.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(100))
    probe = write_script(public_dir, "probe-fallback.sh", NON_ROOT_PROBE)
    result = await run_tshark(
        capture, lines.extend, tshark_path=str(probe), timeout_s=30, work_dir=tmp_path, sandbox=box
    )
    assert result.exit_code == 0
    report = dict(text.split(" ", 1) for text in lines)
    assert report["NoNewPrivs"] == "1"
    assert report["uid"] == str(NOBODY if ROOT else os.geteuid())
    assert "lo" in report["interfaces"].split()
