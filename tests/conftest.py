"""Session-wide checks and real servers (the servers start only when a test asks for them).

* The test data in ``tests/data`` is checked against its manifest once, before any test runs:
  a missing or altered file ends the run with one message naming every such file.
* Tests are marked by tier from their directory (``integration``, ``e2e``), so
  ``-m "not integration and not e2e"`` selects exactly the tests that need no server and no
  tshark; ``make test-unit`` does that and also sets ``PCAPTOTAL_TEST_TIER=unit``, which makes
  any attempt to start tshark or a server in that run fail the test that tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.paths import verify_data
from tests.servers import start_osmem, start_seaweed

TESTS = Path(__file__).resolve().parent
# Apps and servers the tests build run without API keys unless a test turns auth on
# (tests/e2e/test_access.py); they bind loopback, where that is allowed.
os.environ.setdefault("PCAPTOTAL_AUTH", "off")
TIER_MARKERS = {"integration": "integration", "e2e": "e2e"}
# Programs the unit tier must never run: the dissector, its tools, and every server.
SERVER_AND_TOOL_PREFIXES = (
    "tshark", "dumpcap", "mergecap", "editcap", "capinfos", "captype",
    "weed", "osmem", "rabbitmq", "erl", "beam", "epmd", "minio", "elasticsearch", "opensearch",
)  # fmt: skip


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = verify_data()
    if problems:
        listing = "\n  ".join(problems)
        pytest.exit(
            "test data does not match tests/data/MANIFEST.sha256 "
            f"({len(problems)} problem(s)):\n  {listing}\n"
            "Restore the files from git (git checkout -- tests/data) - see tests/data/README.md.",
            returncode=3,
        )
    if os.environ.get("PCAPTOTAL_TEST_TIER") == "unit":
        sys.addaudithook(_refuse_servers_and_tools)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        marker = TIER_MARKERS.get(parts[0]) if parts else None
        if marker is not None:
            item.add_marker(marker)


def _program(event: str, args: tuple[Any, ...]) -> str | None:
    """The program an exec-like audit event is about to run, if it is one."""
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        if executable:
            return str(executable)
        if isinstance(argv, str | bytes | os.PathLike):
            return os.fsdecode(argv).split()[0] if os.fsdecode(argv).strip() else None
        if isinstance(argv, Sequence) and argv:
            return os.fsdecode(argv[0])
        return None
    if event in ("os.exec", "os.posix_spawn", "os.spawn"):
        return os.fsdecode(args[0]) if event != "os.spawn" else os.fsdecode(args[1])
    if event == "os.system":
        command = os.fsdecode(args[0]).strip()
        return command.split()[0] if command else None
    return None


def _refuse_servers_and_tools(event: str, args: tuple[Any, ...]) -> None:
    program = _program(event, args)
    if program is not None and os.path.basename(program).startswith(SERVER_AND_TOOL_PREFIXES):
        raise RuntimeError(
            f"the unit tier must not run {program!r}: move this test to tests/integration "
            "or mark the real-server case with @pytest.mark.integration"
        )


@pytest.fixture(scope="session")
def seaweed_s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield proc.url
    proc.stop()


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One osmem-server (OpenSearch API, in memory) per session.

    Named ``es_url``: the osmem_server package's own pytest plugin already defines
    ``osmem_server`` / ``osmem_clone`` / ``osmem_url``.
    """
    proc = start_osmem(tmp_path_factory.mktemp("osmem"))
    yield proc.url
    proc.stop()
