"""The test-data check that runs once at session start (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.paths import DATA, MANIFEST, read_manifest, shared_captures, verify_data


def test_repository_data_matches_its_manifest() -> None:
    assert verify_data() == []
    names = read_manifest()
    assert len([n for n in names if n.startswith("pcaps/") and n.endswith(".pcap")]) == 32
    assert "pcaps/zeek_pcapng-multi-interface.pcapng" in names
    assert len([n for n in names if n.startswith("detection/pcaps/")]) == 28
    assert {"community-id/baseline_deflt.json", "community-id/COPYING"} <= set(names)
    assert len(shared_captures()) == 33


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    shutil.copytree(DATA / "community-id", data / "community-id")
    manifest = data / "MANIFEST.sha256"
    lines = [
        f"{digest}  {name}"
        for name, digest in read_manifest(MANIFEST).items()
        if name.startswith("community-id/")
    ]
    manifest.write_text("\n".join(lines) + "\n")
    return data, manifest


def test_missing_altered_and_unlisted_files_are_named(tmp_path: Path) -> None:
    data, manifest = _copy(tmp_path)
    assert verify_data(data, manifest) == []
    (data / "community-id" / "tcp.pcap").unlink()
    altered = data / "community-id" / "baseline_deflt.json"
    altered.write_bytes(altered.read_bytes() + b" ")
    (data / "community-id" / "extra.pcap").write_bytes(b"x")
    assert verify_data(data, manifest) == [
        "differs from its sha256: tests/data/community-id/baseline_deflt.json",
        "missing: tests/data/community-id/tcp.pcap",
        "not in the manifest: tests/data/community-id/extra.pcap",
    ]


def test_manifest_is_sha256sum_format(tmp_path: Path) -> None:
    # `cd tests/data && sha256sum -c MANIFEST.sha256` must work: "<hex>  <relative path>"
    for line in MANIFEST.read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert len(digest) == 64 and not name.startswith("/")
    first = next(iter(read_manifest().items()))
    assert hashlib.sha256((DATA / first[0]).read_bytes()).hexdigest() == first[1]


def test_a_missing_manifest_is_one_problem(tmp_path: Path) -> None:
    data, manifest = _copy(tmp_path)
    manifest.unlink()
    (problem,) = verify_data(data, manifest)
    assert problem.endswith("is missing")


def test_unit_tier_guard_refuses_tshark_and_servers() -> None:
    from tests.conftest import _refuse_servers_and_tools as guard

    cases: list[tuple[str, tuple[Any, ...]]] = [
        ("subprocess.Popen", ("/usr/bin/tshark", ["tshark", "-v"], None, None)),
        ("subprocess.Popen", (None, ["weed", "mini"], None, None)),
        ("subprocess.Popen", (None, "rabbitmq-server -detached", None, None)),
        ("os.posix_spawn", ("/x/osmem-server", ["osmem-server"], {})),
        ("os.system", ("mergecap -a -w out in",)),
    ]
    for event, args in cases:
        with pytest.raises(RuntimeError, match="unit tier must not run"):
            guard(event, args)
    guard("subprocess.Popen", (None, ["python3", "-c", "pass"], None, None))  # allowed
    guard("open", ("/etc/hosts", "r", 0))  # other events pass through
