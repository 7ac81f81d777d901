"""Exports built from analysed captures: STIX 2.1 bundles and Suricata rules.

Pure functions over capture documents and flow documents (no I/O): ``observables`` decides
what is an indicator and how sure we are, ``stix`` and ``suricata`` render it, ``sids`` keeps
rule ids stable, ``rulesets`` puts rules files together.
"""

from pcaptotal_search_api.exports.observables import (
    Kind,
    Observable,
    Tier,
    capture_observables,
    merge_all,
)
from pcaptotal_search_api.exports.rulesets import capture_rules, rolling_rules
from pcaptotal_search_api.exports.sids import assign_sids, sid_for
from pcaptotal_search_api.exports.stix import bundle

__all__ = [
    "Kind",
    "Observable",
    "Tier",
    "assign_sids",
    "bundle",
    "capture_observables",
    "capture_rules",
    "merge_all",
    "rolling_rules",
    "sid_for",
]
