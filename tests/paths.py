"""Where the test data lives: ``tests/data`` in this repository, nothing outside it.

Every file there is listed with its sha256 in ``tests/data/MANIFEST.sha256``;
``tests/conftest.py`` checks them all once when the session starts (see ``verify_data``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
MANIFEST = DATA / "MANIFEST.sha256"
PCAPS = DATA / "pcaps"
COMMUNITY_ID = DATA / "community-id"
DETECTION = DATA / "detection"
DETECTION_PCAPS = DETECTION / "pcaps"
# The capture the README's example session uses (tests/e2e/test_readme_examples.py).
README_CAPTURE = PCAPS / "zeek_wikipedia-dns-http.pcap"
CAPTURE_SUFFIXES = (".pcap", ".pcapng")


def shared_captures() -> list[Path]:
    """The 33 captures of the developer set (``tests/data/pcaps``), sorted by name."""
    return sorted(p for p in PCAPS.iterdir() if p.suffix in CAPTURE_SUFFIXES)


def detection_captures() -> list[Path]:
    """The 28 labelled captures of the detection set (``tests/data/detection/pcaps``)."""
    return sorted(p for p in DETECTION_PCAPS.iterdir() if p.suffix in CAPTURE_SUFFIXES)


def read_manifest(manifest: Path = MANIFEST) -> dict[str, str]:
    """``relative path -> sha256`` from a ``sha256sum``-format manifest."""
    entries: dict[str, str] = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.lstrip("*")] = digest
    return entries


def verify_data(data: Path = DATA, manifest: Path = MANIFEST) -> list[str]:
    """Problems with the test data, one line each; empty when every file matches the manifest.

    Files under ``data`` that the manifest does not list are problems too: tests glob the
    capture directories, so a stray file would silently change what they cover.
    """
    if not manifest.is_file():
        return [f"tests/data/{manifest.name} is missing"]
    expected = read_manifest(manifest)
    problems: list[str] = []
    for name, digest in sorted(expected.items()):
        path = data / name
        if not path.is_file():
            problems.append(f"missing: tests/data/{name}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"differs from its sha256: tests/data/{name}")
    unlisted = {manifest.name, "README.md"}
    for path in sorted(data.rglob("*")):
        name = path.relative_to(data).as_posix()
        if path.is_file() and name not in expected and name not in unlisted:
            problems.append(f"not in the manifest: tests/data/{name}")
    return problems
