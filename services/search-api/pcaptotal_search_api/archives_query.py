"""Archives as queries: ``malware/<family>``, ``technique/<finding>``, ``protocol/<proto>``.

An automatic archive is the set of captures with a record that matches its query, so it
fills itself as captures are analysed and answers on both backends alike. The families come
from intel (``threat.enrichments.software.name`` on flows, the feed's family); techniques are
heuristic finding names (finding records); protocols are ``network.protocol`` of flows.
"""

from __future__ import annotations

from fastapi import HTTPException
from pcaptotal.fields import FLOW_FIELDS_BY_NAME
from pcaptotal.query import ir
from pcaptotal.web import quote_input

from pcaptotal_search_api.cross import any_of

# prefix -> (field, datasets)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "malware": ("threat.enrichments.software.name", ("flow",)),
    "technique": ("pcaptotal.finding.name", ("finding",)),
    "protocol": ("network.protocol", ("flow",)),
}


def archive_query(name: str) -> tuple[ir.Node, tuple[str, ...]]:
    """(the records that put a capture in archive ``name``, their datasets); 404 for a name
    that is not ``<kind>/<value>`` with a known kind."""
    kind, _, value = name.partition("/")
    if kind not in KINDS or not value:
        raise HTTPException(
            404,
            f"no archive {quote_input(name)}: archives are "
            + ", ".join(f"{k}/<value>" for k in KINDS),
        )
    field, datasets = KINDS[kind]
    node = any_of(field, [value])
    if kind == "technique":  # heuristic findings only: intel hits are families
        source = FLOW_FIELDS_BY_NAME["pcaptotal.finding.source"]
        node = ir.And((node, ir.Term(source, "heuristic")))
    return node, datasets
