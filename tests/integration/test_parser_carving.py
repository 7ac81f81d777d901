"""Carved files against the files ``tshark --export-objects`` writes on its own."""

from __future__ import annotations

import errno
import hashlib
import subprocess
from pathlib import Path

import pytest
from pcaptotal_parser import object_mover
from pcaptotal_parser.carving import PROTOCOLS
from pcaptotal_parser.parse import parse_capture

from tests.beacons import write_beacons
from tests.paths import PCAPS, shared_captures
from tests.tshark_oracle import TSHARK, tshark_lines

pytestmark = pytest.mark.integration

CAPTURES = shared_captures()


def tshark_exported(path: Path, out: Path) -> set[str]:
    """sha256 of every object tshark exports for ``path`` (one protocol per run)."""
    digests: set[str] = set()
    for protocol in PROTOCOLS:
        target = out / protocol
        subprocess.run(
            [TSHARK, "-n", "-r", str(path), "-Q", "--export-objects", f"{protocol},{target}"],
            capture_output=True,
            check=False,
        )
        if target.is_dir():
            digests |= {hashlib.sha256(f.read_bytes()).hexdigest() for f in target.iterdir()}
    return digests


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
async def test_carved_files_equal_tshark_export_objects(
    path: Path, tmp_path: Path, tshark: str
) -> None:
    expected = tshark_exported(path, tmp_path / "oracle")
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=120)
    docs = list(result.flows.flows())
    on_flows = {s for d in docs for s in d.get("file.hash.sha256", [])}
    assert {f.sha256 for f in result.files} == expected
    assert on_flows == expected  # every file is tied to a flow
    for file in result.files:
        assert file.path.resolve().is_relative_to(result.objects_dir.resolve())  # type: ignore[union-attr]
        data = file.path.read_bytes()
        assert len(data) == file.size
        assert hashlib.md5(data).hexdigest() == file.md5
        assert hashlib.sha1(data).hexdigest() == file.sha1
    await result.discard_files()
    assert result.objects_dir is None


async def test_file_facts_on_the_download_flow(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_http-zip-download.pcap"
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path)
    (doc,) = list(result.flows.flows())
    assert doc["file.name"] == ["a.zip"]
    assert doc["file.size"] == [14638]
    assert doc["file.mime_type"] == ["application/zip"]
    assert doc["pcaptotal.file.protocol"] == ["http"]


async def test_mail_and_ftp_objects(tmp_path: Path, tshark: str) -> None:
    result = await parse_capture(PCAPS / "zeek_smtp.pcap", "c" * 64, work_dir=tmp_path)
    names = {n for d in result.flows.flows() for n in d.get("file.name", [])}
    assert names == {"SMTP.eml", "Re: Bro SMTP CC Header.eml"}  # the subject's ':' restored
    path = PCAPS / "corelight_agenttesla-ftp-exfil.pcap"
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path)
    stolen = [d for d in result.flows.flows() if "ftp-data" in d.get("pcaptotal.file.protocol", [])]
    assert len(stolen) == 1 and stolen[0]["file.name"][0].startswith("PW_admin-USER-PC")


async def test_no_carving_when_disabled(tmp_path: Path, tshark: str) -> None:
    path = PCAPS / "zeek_http-zip-download.pcap"
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, carve=False)
    assert result.files == [] and result.objects_dir is None


def tshark_names(path: Path, out: Path) -> dict[str, str]:
    """name → sha256 of the HTTP objects tshark exports on its own."""
    subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-Q", "--export-objects", f"http,{out}"],
        capture_output=True,
        check=False,
    )
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in out.iterdir()}


@pytest.mark.parametrize(
    ("polls", "target"),
    [(1005, "/gate.php"), (12, "/" + "x" * 300 + ".php"), (12, "/q?" + "O:12:" * 60)],
    ids=["past-the-cap", "long-name", "long-name-no-extension"],
)
async def test_objects_of_one_name_keep_tsharks_names_and_files(
    polls: int, target: str, tmp_path: Path, tshark: str
) -> None:
    """Many objects of one name: the parser takes the files out as tshark writes them, and
    must keep the files tshark alone keeps (past 1,000 of a name, the first 999 and the last),
    under the names it gives them (copies of long names are cut to 255 bytes)."""
    path = tmp_path / "beacons.pcap"
    write_beacons(path, polls, target)
    expected = tshark_names(path, tmp_path / "oracle")
    assert len(expected) == min(polls, 1000)
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=300)
    assert {f.written_name: f.sha256 for f in result.files} == expected
    await result.discard_files()


async def test_without_inotify_the_objects_are_moved_at_the_end(
    tmp_path: Path, tshark: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused() -> None:
        raise OSError(errno.EMFILE, "inotify instances exhausted")

    monkeypatch.setattr(object_mover, "INotify", refused)
    path = tmp_path / "beacons.pcap"
    write_beacons(path, 30)
    expected = tshark_exported(path, tmp_path / "oracle")
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=120)
    assert len(expected) == 30
    assert {f.sha256 for f in result.files} == expected
    await result.discard_files()


def content_length_ports(path: Path) -> dict[int, set[int]]:
    """tshark's HTTP messages with a Content-Length: body size -> the clients' ports."""
    fields = ["http.response", "tcp.srcport", "tcp.dstport", "http.content_length"]
    args = [arg for f in fields for arg in ("-e", f)]
    ports: dict[int, set[int]] = {}
    for row in tshark_lines(path, "-Y", "http.content_length", "-T", "fields", *args):
        response, src, dst, length = row.split("\t")
        ports.setdefault(int(length), set()).add(int(dst) if response else int(src))
    return ports


@pytest.mark.parametrize(
    "name",
    ["corelight_caldera-ragdoll-http-c2.pcap", "zeek_vlan-mpls-http.pcap"],
)
async def test_a_name_served_on_several_flows_goes_on_the_flow_of_its_size(
    name: str, tmp_path: Path, tshark: str
) -> None:
    """A C2 agent fetching one URL over many connections: each copy of the file belongs on
    the one connection whose HTTP message (by tshark's Content-Length) had the copy's size,
    not on every connection that asked for that name."""
    path = PCAPS / name
    client_ports = content_length_ports(path)
    result = await parse_capture(path, "c" * 64, work_dir=tmp_path, timeout_s=120)
    checked = 0
    for file, keys in result.file_targets:
        ports = client_ports.get(file.size, set())
        if file.protocol != "http" or len(ports) != 1:
            continue
        on = [result.flows.flow_document(k)["source.port"] for k in keys]
        assert on == list(ports), file.written_name
        checked += 1
    assert checked  # each capture serves a name on several flows in several sizes
    await result.discard_files()
