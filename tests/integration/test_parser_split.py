"""A capture split by host pair and decoded by several tshark processes parses exactly like one
pass: same flows (keys, stream numbers, order), counts, bytes, facts, files and summary."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pcaptotal_parser.parse import ParseResult
from pcaptotal_parser.partition import split_capture

from tests.parsing import parse_split
from tests.paths import COMMUNITY_ID, PCAPS
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def concatenated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shared capture (and the Community ID ones) one after the other (mergecap -a).

    The damaged capture is first rewritten by editcap, which keeps the packets it can read.
    """
    out = tmp_path_factory.mktemp("concat")
    inputs = []
    for path in sorted(PCAPS.glob("*.pcap*")) + sorted(COMMUNITY_ID.glob("*.pcap")):
        if "damaged" in path.name:
            fixed = out / path.name
            subprocess.run(["editcap", str(path), str(fixed)], capture_output=True, check=False)
            path = fixed
        inputs.append(str(path))
    target = out / "all.pcapng"
    subprocess.run(["mergecap", "-a", "-w", str(target), *inputs], check=True)
    return target


async def parse(path: Path, tmp_path: Path, workers: int, part_max_bytes: int) -> ParseResult:
    return await parse_split(path, tmp_path, workers, part_max_bytes=part_max_bytes)


def docs(result: ParseResult) -> list[dict[str, Any]]:
    return list(result.flows.flows())


@pytest.mark.parametrize(("workers", "part_max_bytes"), [(2, 1 << 30), (3, 300_000)])
async def test_split_parse_equals_single_pass(
    concatenated: Path, tmp_path: Path, tshark: str, workers: int, part_max_bytes: int
) -> None:
    single = await parse(concatenated, tmp_path, 1, 1 << 30)
    split = await parse(concatenated, tmp_path, workers, part_max_bytes)
    assert single.parts == 1 and split.parts >= workers
    assert split.withheld > 1000  # the prefilter's packets (pcapng) are part of the proof
    assert split.summary == single.summary
    assert split.summary.model_dump() == oracle_summary(concatenated)
    assert docs(split) == docs(single)  # same order, keys, numbers and facts
    # and the same dns/http/tls/file records, carved objects named as one pass names them
    assert list(split.records()) == list(single.records())
    assert sorted(f.sha256 for f in split.files) == sorted(f.sha256 for f in single.files)
    assert split.warnings == single.warnings


def test_parts_keep_every_packet_once(concatenated: Path, tmp_path: Path) -> None:
    parts = split_capture(concatenated, tmp_path, 4)
    assert parts is not None
    frames = sorted(f for part in parts for f in part.frames)
    assert frames == list(range(1, len(frames) + 1))
    for part in parts:  # each part is a capture tshark reads, frames in the original order
        assert list(part.frames) == sorted(part.frames)
        count = subprocess.run(
            ["capinfos", "-c", "-M", str(part.path)], capture_output=True, text=True, check=True
        ).stdout
        assert f"{part.packets}" in count


async def test_damaged_capture_falls_back_to_one_pass(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "suricata-verify_damaged-file-tls-der.pcap"
    assert split_capture(path, tmp_path, 2) is None
    result = await parse(path, tmp_path, 2, 1 << 30)
    assert result.parts == 1 and result.summary.packets == 6
    assert "damaged or corrupt" in result.warnings[0]
