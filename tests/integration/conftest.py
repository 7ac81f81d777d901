"""Shared fixtures for integration tests."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of tshark; skips the test when it is not installed."""
    path = shutil.which(os.environ.get("PCAPTOTAL_TSHARK_PATH", "tshark"))
    if path is None:
        pytest.skip("tshark is not installed")
    return path
