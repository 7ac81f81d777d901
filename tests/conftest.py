"""Session-wide real servers, started only when a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import start_osmem, start_seaweed


@pytest.fixture(scope="session")
def seaweed_s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield proc.url
    proc.stop()


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One osmem-server (OpenSearch API, in memory) per session.

    Named ``es_url``: the osmem_server package's own pytest plugin already defines
    ``osmem_server`` / ``osmem_clone`` / ``osmem_url``.
    """
    proc = start_osmem(tmp_path_factory.mktemp("osmem"))
    yield proc.url
    proc.stop()
