"""Malware families (and tools) from findings, measured against the corpus labels.

With no feed, a capture's family can only come from a finding that matched a family's
published fingerprint (``pcaptotal_enricher.families``). The labels are the detection set's
``family_or_tool`` column and, for the developer set's malicious captures, the family in the
file name (``corelight_asyncrat-c2.pcap``: AsyncRAT). A family is right when the label names
it; the test prints every labelled capture with what came out and requires that nothing
wrong comes out (no family the label does not name, none on a benign capture). It does not
require a family for every capture: most families have no fingerprint the heuristics know.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pcaptotal_enricher.records import finding_records
from pcaptotal_enricher.verdict import analyse_capture

from tests.integration.test_detection_corpus import LABELS
from tests.paths import DETECTION

pytestmark = pytest.mark.integration

Flows = Callable[[Path], list[dict[str, Any]]]


def _label_texts() -> dict[str, str]:
    """capture name -> the text that names its family ('' for benign captures)."""
    with (DETECTION / "MANIFEST.tsv").open(newline="") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}
    out: dict[str, str] = {}
    for path, bad in LABELS.items():
        if not bad:
            out[path.name] = ""
        elif path.name in rows:
            out[path.name] = rows[path.name]["family_or_tool"]
        else:  # developer set: <source>_<family>-<what>.pcap
            out[path.name] = path.stem.split("_", 1)[1].split("-", 1)[0]
    return out


def _norm(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def test_families_from_findings_agree_with_the_labels(parsed_flows: Flows) -> None:
    texts = _label_texts()
    right: list[str] = []
    wrong: list[str] = []
    for path in sorted(LABELS):
        analysis = analyse_capture(parsed_flows(path))
        families = analysis.tags  # no feed: every family here comes from a finding
        label = texts[path.name]
        ok = [f for f in families if label and _norm(f) in _norm(label)]
        bad = [f for f in families if f not in ok]
        right += [f"{path.name}: {f}" for f in ok]
        wrong += [f"{path.name}: {f} (label {label!r})" for f in bad]
        if LABELS[path]:
            print(f"  {path.name:55s} label={label[:40]!r:44s} families={families}")
        # the finding record that named the family carries it, so the archive finds it
        records = finding_records("c" * 64, analysis.flows, analysis.findings)
        named = {n for r in records for n in r.get("threat.software.name") or []}
        assert named == set(families), path.name
    labelled = sum(LABELS.values())
    print(f"families right: {len(right)} of {labelled} malicious captures; wrong: {len(wrong)}")
    print("  right: " + "; ".join(right))
    assert not wrong, wrong
    assert right, "no family came out of any finding"
