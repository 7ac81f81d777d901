"""Per-flow enrichment steps applied before indexing.

Threat-intel matching, heuristics and verdicts plug in here as ``Enrichment`` steps; the first
cut has none, so flows are indexed as the parser produced them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

FlowDoc = dict[str, Any]


class Enrichment(Protocol):
    def __call__(self, flows: list[FlowDoc]) -> list[FlowDoc]: ...


def apply_enrichments(flows: list[FlowDoc], steps: Sequence[Enrichment]) -> list[FlowDoc]:
    for step in steps:
        flows = step(flows)
    return flows
