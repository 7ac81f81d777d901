"""Records encoded ahead for an index backend (``Index.add_prepared``): made by whoever holds
the records as dicts (the enricher's analysis process), so that the process writing the
index only hands each encoding over.

``TANTIVY``: the JSON document tantivy's ``add_json`` parses (``tantivy_docs.flow_json``).
``PLAIN``: no encoding; the backend builds its request from the record (Elasticsearch's bulk
bodies are built from the records as they are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TANTIVY = "tantivy"
PLAIN = "plain"

Encoder = Callable[[dict[str, Any]], str | None]


def encoder(fmt: str) -> Encoder:
    """A function encoding one record for ``fmt`` (None: the backend takes the record)."""
    if fmt == TANTIVY:
        # here, not at the top: the Elasticsearch adapter names its format without tantivy
        from pcaptotal.adapters.tantivy_docs import flow_json

        ips: dict[str, str] = {}  # an address's normal form, for this encoder's records

        def tantivy_line(record: dict[str, Any]) -> str | None:
            if len(ips) > 100_000:  # bounded: a capture with many addresses
                ips.clear()
            return flow_json(record, ips)

        return tantivy_line
    return _none


def _none(record: dict[str, Any]) -> None:
    return None
