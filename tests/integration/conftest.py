"""Shared fixtures for integration tests."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark; the integration tier needs it, so its absence fails (never skips)."""
    path = shutil.which(os.environ.get("PCAPTOTAL_TSHARK_PATH", "tshark"))
    if path is None:
        pytest.fail("tshark is not installed: run `make deps` (apt-get install tshark)")
    return path
