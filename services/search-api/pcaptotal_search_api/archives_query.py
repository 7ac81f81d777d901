"""Archives as queries: ``malware/<family>``, ``technique/<finding>``, ``protocol/<proto>``.

An automatic archive is the set of captures with a record that matches its query, so it
fills itself as captures are analysed and answers on both backends alike. The families come
from intel (``threat.enrichments.software.name`` on flows, the feed's family) and from
findings that matched a family's published fingerprint (``threat.software.name`` on the
heuristic finding record, ``pcaptotal_enricher.families``); techniques are heuristic finding
names (finding records); protocols are ``network.protocol`` of flows.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import ir
from pcaptotal.web import quote_input

from pcaptotal_search_api.cross import any_of


@dataclass(frozen=True, slots=True)
class Source:
    """Records of ``datasets`` whose ``field`` holds the archive's value (and, when
    ``heuristic``, that are heuristic findings)."""

    field: str
    datasets: tuple[str, ...]
    heuristic: bool = False

    def where(self, values: list[str] | None = None) -> ir.Node:
        """The records of this source (with one of ``values`` when given; a terms aggregation
        on ``field`` over every record needs no more)."""
        parts: list[ir.Node] = [] if values is None else [any_of(self.field, values)]
        if self.heuristic:  # heuristic findings only: intel hits are families
            source = FLOW_FIELDS_BY_NAME["pcaptotal.finding.source"]
            parts.append(ir.Term(source, "heuristic"))
        if not parts:
            return ir.MatchAll()
        return parts[0] if len(parts) == 1 else ir.And(tuple(parts))


KINDS: dict[str, tuple[Source, ...]] = {
    "malware": (
        Source("threat.enrichments.software.name", ("flow",)),
        Source("threat.software.name", ("finding",), heuristic=True),
    ),
    "technique": (Source("pcaptotal.finding.name", ("finding",), heuristic=True),),
    "protocol": (Source("network.protocol", ("flow",)),),
}


def automatic_query(name: str) -> tuple[ir.Node, tuple[str, ...]] | None:
    """(the records that put a capture in automatic archive ``name``, their datasets), or
    None when ``name`` is not ``<kind>/<value>`` with a known kind."""
    kind, _, value = name.partition("/")
    if kind not in KINDS or not value:
        return None
    sources = KINDS[kind]
    nodes = tuple(s.where([value]) for s in sources)
    datasets = tuple(dict.fromkeys(d for s in sources for d in s.datasets))
    return (nodes[0] if len(nodes) == 1 else ir.Or(nodes)), datasets


def archive_query(name: str) -> tuple[ir.Node, tuple[str, ...]]:
    """``automatic_query``, 404 for a name that is not an automatic archive."""
    found = automatic_query(name)
    if found is None:
        raise HTTPException(
            404,
            f"no archive {quote_input(name)}: archives are "
            + ", ".join(f"{k}/<value>" for k in KINDS)
            + " and the curated ones",
        )
    return found
