"""Shared fixtures for integration tests."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pcaptotal_parser.parse import parse_capture


@pytest.fixture
def public_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory the sandbox user can read (pytest's tmp_path is private to root): where
    scripts that stand in for tshark go."""
    directory = Path(f"/tmp/pcaptotal-sandbox-test-{os.getpid()}")
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark; the integration tier needs it, so its absence fails (never skips)."""
    path = shutil.which(os.environ.get("PCAPTOTAL_TSHARK_PATH", "tshark"))
    if path is None:
        pytest.fail("tshark is not installed: run `make deps` (apt-get install tshark)")
    return path


@pytest.fixture(scope="session")
def parsed_flows(
    tshark: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Path], list[dict[str, Any]]]:
    """``parsed_flows(capture)``: the capture's flow documents from the real parser, parsed once
    per test session (the detection tests share them); each call returns fresh copies, since
    the enricher annotates flows in place."""
    work = tmp_path_factory.mktemp("parsed")
    cache: dict[Path, list[dict[str, Any]]] = {}

    async def parse(capture: Path) -> list[dict[str, Any]]:
        result = await parse_capture(capture, capture.name, tshark_path=tshark, work_dir=work)
        return list(result.flows.flows())

    def flows(capture: Path) -> list[dict[str, Any]]:
        if capture not in cache:
            cache[capture] = asyncio.run(parse(capture))
        return copy.deepcopy(cache[capture])

    return flows
