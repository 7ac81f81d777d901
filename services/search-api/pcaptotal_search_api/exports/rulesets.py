"""Rules files: one capture's, and the rolling set over every capture analysed since a date."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pcaptotal_search_api.exports.observables import Observable, Tier, merge_all
from pcaptotal_search_api.exports.stix import analysis_time
from pcaptotal_search_api.exports.suricata import render, rules

MEDIA_TYPE = "text/plain; charset=utf-8"
TIERS = {"known": (Tier.KNOWN,), "likely": (Tier.LIKELY,), None: (Tier.KNOWN, Tier.LIKELY)}
VERDICTS_AT_LEAST = {"suspicious": ("suspicious", "malicious"), "malicious": ("malicious",)}


def capture_rules(
    capture: Mapping[str, Any], observables: Iterable[Observable], tiers: Sequence[Tier]
) -> str:
    header = [
        f"PcapTotal rules for capture {capture.get('id')}",
        f"file {capture.get('filename') or '?'}, verdict {capture.get('verdict') or 'clean'}, "
        f"analysed {analysis_time(capture).isoformat()}",
        "sids are derived from the indicator: the same indicator has the same sid everywhere",
    ]
    return render(header, rules(observables), tiers)


def rolling_rules(
    per_capture: Iterable[Iterable[Observable]],
    *,
    since: datetime,
    min_verdict: str,
    captures: int,
    tiers: Sequence[Tier],
    notes: Sequence[str] = (),
) -> str:
    """One rules file from many captures' observables, deduplicated by (kind, value)."""
    merged = merge_all(o for observables in per_capture for o in observables)
    header = [
        "PcapTotal rolling rules",
        f"captures analysed since {since.isoformat()} with verdict >= {min_verdict}: {captures}",
        "deduplicated by indicator; sids are stable (derived from the indicator, see docs)",
        *notes,
    ]
    return render(header, rules(merged), tiers)
