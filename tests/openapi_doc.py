"""The runner's OpenAPI document and its operations, for the tests that check it by rule or
by table (``tests/unit/test_openapi_typed.py``, ``tests/unit/test_openapi_contract.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pcaptotal.settings import Settings
from pcaptotal_runner.app import create_app

Doc = dict[str, Any]


def runner_openapi(data_dir: Path) -> Doc:
    """The document the all-in-one runner serves (no workers started)."""
    schema: Doc = create_app(Settings(data_dir=data_dir), workers=False).openapi()
    return schema


def operations(doc: Doc) -> Iterator[tuple[str, str, Doc]]:
    """(method, path, operation) for every operation of ``doc``."""
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method, path, op
