"""The flow builder's fast path (plain TCP/UDP packets on raw columns) equals its general path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.tshark import tshark_command

from tests.paths import COMMUNITY_ID, shared_captures
from tests.tshark_oracle import TSHARK

pytestmark = pytest.mark.integration

CAPTURES = shared_captures() + sorted(COMMUNITY_ID.glob("*.pcap"))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_fast_path_equals_general_path(path: Path, tshark: str) -> None:
    proc = subprocess.run(
        tshark_command(TSHARK, path), capture_output=True, text=True, errors="replace", check=False
    )
    lines = proc.stdout.split("\n")[:-1]
    fast, general = FlowBuilder("c" * 64), FlowBuilder("c" * 64)
    general.fast = False
    fast.add_lines(lines)
    general.add_lines(lines)
    assert list(fast.flows()) == list(general.flows())
    assert fast.summary() == general.summary()
