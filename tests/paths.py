"""Where the shared test captures live (the repo is cloned with ../shared beside it)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PCAPTOTAL_SHARED", REPO.parent / "shared"))
PCAPS = Path(os.environ.get("PCAPTOTAL_TEST_PCAPS", SHARED / "pcaps"))
COMMUNITY_ID = SHARED / "community-id"


def shared_captures() -> list[Path]:
    return sorted(p for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng"))
