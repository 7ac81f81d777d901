"""STIX 2.1 export: ``stix2`` parses what we emit back to the same objects; ids are stable."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stix2
from pcaptotal_search_api.exports import bundle, capture_observables
from pcaptotal_search_api.exports.stix import IDENTITY
from pcaptotal_search_api.exports.stix_models import StixBundle
from stix2patterns.pattern import Pattern

from tests.unit.test_exports_rules import CID, CID2, HOSTILE, c2_flows, capture_doc, flow, hit


def _round_trip(doc: dict[str, Any], flows: list[dict[str, Any]]) -> dict[str, Any]:
    built = bundle(doc, capture_observables(doc, flows))
    text = built.serialize(sort_keys=True)
    parsed = stix2.parse(text, allow_custom=False)  # validates every object and pattern
    assert parsed.serialize(sort_keys=True) == text
    data: dict[str, Any] = json.loads(text)
    StixBundle.model_validate(data)  # what the OpenAPI document declares, strictly
    return data


def _by_type(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in data["objects"] if o["type"] == kind]


def test_bundle_of_a_c2_capture() -> None:
    data = _round_trip(capture_doc(), c2_flows())
    patterns = {i["pattern"]: i for i in _by_type(data, "indicator")}
    assert set(patterns) == {
        "[domain-name:value = 'evil.example.net']",
        "[domain-name:value = 'c2.evil.example.net']",
        "[domain-name:value = 'update.evil.example.net']",
        "[ipv4-addr:value = '185.255.114.40']",
        "[url:value = 'http://update.evil.example.net:8219/gate.php?id=1']",
        f"[file:hashes.'SHA-256' = '{'ab' * 32}']",
        "[network-traffic:extensions.'x-pcaptotal-tls'.ja3 = '8b79783b7a50d6785ef5365a464f97d1']",
    }
    ip = patterns["[ipv4-addr:value = '185.255.114.40']"]
    assert ip["indicator_types"] == ["malicious-activity"] == ip["labels"]
    assert ip["valid_from"] == "2024-05-01T10:00:00Z"
    assert ip["created_by_ref"] == IDENTITY.id
    assert (
        "feodo" in ip["description"] and "STRRAT" in ip["description"] and CID in ip["description"]
    )
    ja3 = next(i for p, i in patterns.items() if "ja3" in p)
    assert ja3["indicator_types"] == ["anomalous-activity"]
    assert "tls-self-signed" in ja3["description"]
    (malware,) = _by_type(data, "malware")
    assert malware["name"] == "STRRAT" and malware["is_family"] is True
    rels = _by_type(data, "relationship")
    assert {(r["source_ref"], r["relationship_type"], r["target_ref"]) for r in rels} == {
        (ip["id"], "indicates", malware["id"]),
        (
            patterns["[url:value = 'http://update.evil.example.net:8219/gate.php?id=1']"]["id"],
            "indicates",
            malware["id"],
        ),
        (
            patterns["[domain-name:value = 'update.evil.example.net']"]["id"],
            "indicates",
            malware["id"],
        ),
        (patterns[f"[file:hashes.'SHA-256' = '{'ab' * 32}']"]["id"], "indicates", malware["id"]),
    }
    assert not any("8.8.8.8" in p or "9.9.9.9" in p or "1.1.1.1" in p for p in patterns)


def test_re_export_is_identical_and_ids_are_per_capture() -> None:
    one = bundle(capture_doc(), capture_observables(capture_doc(), c2_flows()))
    again = bundle(capture_doc(), capture_observables(capture_doc(), c2_flows()))
    assert one.serialize(sort_keys=True) == again.serialize(sort_keys=True)
    other = bundle(capture_doc(CID2), capture_observables(capture_doc(CID2), c2_flows(CID2)))
    ids = {o.id for o in one.objects if o.type == "indicator"}
    other_ids = {o.id for o in other.objects if o.type == "indicator"}
    assert ids and not ids & other_ids
    malware = {o.id for o in one.objects if o.type == "malware"}
    assert malware == {o.id for o in other.objects if o.type == "malware"}  # one family, one id


def test_clean_capture_gives_only_the_identity() -> None:
    flows = [flow("tcp-1", verdict="clean", fields={"destination.ip": "1.1.1.1"})]
    data = _round_trip(capture_doc(verdict="clean"), flows)
    assert [o["type"] for o in data["objects"]] == ["identity"]


@pytest.mark.parametrize("value", [*HOSTILE, "it's.example", "x'] OR [ipv4-addr:value = '1.2.3.4"])
def test_hostile_values_round_trip(value: str) -> None:
    flows = [
        flow(
            "tcp-1",
            fields={
                "destination.ip": "2001:4860:4860::8888",
                "network.protocol": ["http"],
                "url.domain": [value],
                "url.original": [f"/{value}"],
                "threat.enrichments": [hit(value, "domain-name", "url.domain")],
            },
        )
    ]
    data = _round_trip(capture_doc(), flows)
    patterns = [i["pattern"] for i in _by_type(data, "indicator")]
    assert "[ipv6-addr:value = '2001:4860:4860::8888']" in patterns
    assert len(patterns) == 3
    for p in patterns:  # one comparison each: the value cannot break out of its quotes
        comparisons = Pattern(p).inspect().comparisons
        assert sum(len(c) for c in comparisons.values()) == 1, p
