"""The splitter's prefilter keeps packets from tshark (sealed TLS/SSH segments, ARP, STP) and
counts them itself: a split parse with it equals one tshark pass on every capture of the
shared, detection and Community ID sets - summary, flow documents (packets, bytes, times,
bursts, flags, VLANs), dns/http/tls/file records, carved files and warnings."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from pcaptotal_parser.parse import ParseResult

from tests.parsing import parse_split
from tests.paths import COMMUNITY_ID, detection_captures, shared_captures
from tests.tshark_oracle import oracle_summary

pytestmark = pytest.mark.integration

CAPTURES = [
    *shared_captures(),
    *detection_captures(),
    *sorted(COMMUNITY_ID.glob("*.pcap")),
]


async def parse(path: Path, tmp_path: Path, workers: int, prefilter: bool) -> ParseResult:
    return await parse_split(path, tmp_path, workers, prefilter=prefilter)


def assert_same(split: ParseResult, single: ParseResult) -> None:
    assert split.summary == single.summary
    assert list(split.records()) == list(single.records())  # flows, then dns/http/tls/file
    assert sorted(f.sha256 for f in split.files) == sorted(f.sha256 for f in single.files)
    assert split.warnings == single.warnings


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
async def test_prefiltered_split_equals_one_pass(
    capture: Path, tmp_path: Path, tshark: str
) -> None:
    single, split = await asyncio.gather(  # at once: tshark startup dominates these
        parse(capture, tmp_path, 1, prefilter=False), parse(capture, tmp_path, 2, prefilter=True)
    )
    assert_same(split, single)


@pytest.fixture(scope="module")
def concatenated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classic-pcap Ethernet captures joined (``mergecap -a``, pcap), so the parts hold
    many sealed sessions each, interleaved with everything else."""
    out = tmp_path_factory.mktemp("concat-pcap")
    inputs = []
    for path in CAPTURES:
        kind = subprocess.run(
            ["capinfos", "-t", "-E", "-T", "-r", str(path)], capture_output=True, text=True
        ).stdout.strip()
        if kind.endswith("\tpcap\tether") and "damaged" not in path.name:
            inputs.append(str(path))
    target = out / "all.pcap"
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(target), *inputs], check=True)
    return target


async def test_prefiltered_parts_equal_one_pass(
    concatenated: Path, tmp_path: Path, tshark: str
) -> None:
    single = await parse(concatenated, tmp_path, 1, prefilter=False)
    split = await parse(concatenated, tmp_path, 3, prefilter=True)
    unfiltered = await parse(concatenated, tmp_path, 3, prefilter=False)
    assert split.parts == unfiltered.parts == 3
    assert split.withheld > 3000 and unfiltered.withheld == 0
    assert_same(split, single)
    assert_same(unfiltered, single)
    assert split.summary.model_dump() == oracle_summary(concatenated)


@pytest.mark.parametrize("kind", ["pcapng", "nsecpcap"])
async def test_other_file_formats_are_prefiltered_alike(
    kind: str, tmp_path: Path, tshark: str
) -> None:
    """pcapng (timestamps per interface resolution) and nanosecond pcap."""
    source = next(p for p in CAPTURES if p.name == "slips_jittered-https-beacon-curl.pcap")
    capture = tmp_path / f"in.{kind}"
    command = ["editcap", "-F", kind, str(source), str(capture)]
    await asyncio.to_thread(subprocess.run, command, check=True)
    split = await parse(capture, tmp_path, 2, prefilter=True)
    single = await parse(capture, tmp_path, 1, prefilter=False)
    assert split.withheld > 200
    assert_same(split, single)


async def test_a_pcapng_with_tls_keys_is_not_prefiltered(tmp_path: Path, tshark: str) -> None:
    """A decryption secrets block lets tshark read sealed sessions: it sees every packet."""
    keys = tmp_path / "keys.txt"
    keys.write_text(f"CLIENT_RANDOM {'1' * 64} {'2' * 96}\n")
    capture = tmp_path / "in.pcapng"
    source = next(p for p in CAPTURES if p.name == "zeek_tls12-heise-stream.pcap")
    command = ["editcap", "--inject-secrets", f"tls,{keys}", str(source), str(capture)]
    await asyncio.to_thread(subprocess.run, command, check=True)
    split = await parse(capture, tmp_path, 2, prefilter=True)
    single = await parse(capture, tmp_path, 1, prefilter=False)
    assert split.withheld == 0
    assert_same(split, single)
