"""Session-wide real servers, started only when a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import start_seaweed


@pytest.fixture(scope="session")
def seaweed_s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield proc.url
    proc.stop()
