"""Families named by findings (``pcaptotal_enricher.families``): only the findings whose
match is one family's or tool's published fingerprint name one, from what they matched."""

from __future__ import annotations

from typing import Any

import pytest
from pcaptotal_enricher.families import finding_families
from pcaptotal_enricher.heuristics.lists import C2_CERT_SUBJECTS, SCANNER_UA
from pcaptotal_enricher.records import finding_records


def _cert(matched: str) -> dict[str, Any]:
    return {"name": "tls-c2-default-certificate", "matched": matched, "evidence": {}}


@pytest.mark.parametrize(
    ("matched", "family"),
    [
        ("Major Cobalt Strike", "Cobalt Strike"),
        ("AsyncRAT Server", "AsyncRAT"),
        ("DcRat Server", "DcRat"),
        ("Quasar Server CA", "Quasar"),
        ("P18055077", "PoshC2"),
        ("multiplayer", "Sliver"),
        ("Brute Ratel", "Brute Ratel"),
    ],
)
def test_default_certificate_names_its_framework(matched: str, family: str) -> None:
    assert C2_CERT_SUBJECTS.search(matched)  # the heuristic matches it too
    assert finding_families(_cert(matched)) == [family]


def test_scanner_fingerprints_name_every_tool_seen() -> None:
    fingerprints = [
        "user agent 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)' (matched 'Nikto')",
        "user agent 'sqlmap/1.7#stable (https://sqlmap.org)' (matched 'sqlmap')",
        "nmap service probe '/nice%20ports%2C/Tri%6Eity.txt%2ebak'",
    ]
    assert all(SCANNER_UA.search(f) or "nmap" in f for f in fingerprints)
    finding = {
        "name": "scanner-tool",
        "matched": fingerprints[0],
        "evidence": {"fingerprints": fingerprints},
    }
    assert finding_families(finding) == ["Nikto", "sqlmap", "Nmap"]


@pytest.mark.parametrize(
    "finding",
    [
        {"name": "beaconing", "evidence": {"interval_s": 60}},
        {"name": "http-host-inventory-form", "matched": "id=&vs=&os=&pc=&un="},
        {"name": "dns-tunnelling", "evidence": {"parent": "cobaltstrike.example"}},
        _cert("some other subject"),
    ],
)
def test_behaviour_that_many_families_share_names_none(finding: dict[str, Any]) -> None:
    assert finding_families(finding) == []


def test_the_finding_record_carries_the_family() -> None:
    finding = {**_cert("AsyncRAT Server"), "severity": "high", "explanation": "x 1"}
    finding["families"] = finding_families(finding)
    other = {"name": "beaconing", "severity": "medium", "explanation": "y 2"}
    records = finding_records("c" * 64, [], [finding, other])
    named = {r["pcaptotal.finding.name"]: r.get("threat.software.name") for r in records}
    assert named == {"tls-c2-default-certificate": ["AsyncRAT"], "beaconing": None}
