"""Suricata rule export: strict syntax, escaping of hostile values, stable sids, rule sets.

``check_rule`` is a strict grammar for the rules we emit (Suricata's own parser is not
installable here): header, option tokenising with Suricata's escape rules, a whitelist of
keywords with value checks, and content decoding back to the exact bytes. ``idstools`` (a
well-kept Suricata rule library) parses every rule too, as a second opinion.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import idstools.rule
import pytest
from pcaptotal_search_api.exports import (
    Kind,
    Observable,
    Tier,
    assign_sids,
    capture_observables,
    capture_rules,
    merge_all,
    rolling_rules,
    sid_for,
)
from pcaptotal_search_api.exports.sids import SID_BASE, SID_SPACE
from pcaptotal_search_api.exports.suricata import content, rules

CID = "a" * 64
CID2 = "b" * 64

# -- a strict grammar of the rules we emit --------------------------------------------------------

_HEADER = re.compile(r"alert (ip|dns|tls|http) (\$HOME_NET|any) any -> (\S+) any \((.*)\)")
_BUFFERS = {"dns.query", "tls.sni", "http.host", "http.uri", "http.uri.raw", "ja3.hash"}
_MODIFIERS = {"nocase", "startswith", "endswith", "bsize"}
_CLASSTYPES = {"trojan-activity": 1, "bad-unknown": 2, "misc-activity": 3}
_META_PAIR = re.compile(r"[A-Za-z0-9_]+ [A-Za-z0-9_.:-]+")


@dataclass
class ParsedRule:
    proto: str
    dst: str
    options: list[tuple[str, str | None]]
    contents: list[bytes]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.options if k == name), None)


def _options(body: str) -> list[tuple[str, str | None]]:
    """Split ``name[:value];`` options as Suricata does: ``\\`` escapes the next character and
    only an unescaped ``;`` ends an option."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(body):
        if body[i] == " ":
            i += 1
            continue
        j, buf = i, []
        while j < len(body) and body[j] != ";":
            if body[j] == "\\":
                buf.append(body[j : j + 2])
                j += 2
                continue
            buf.append(body[j])
            j += 1
        assert j < len(body), f"option without ';': {body[i:]!r}"
        text = "".join(buf)
        name, sep, value = text.partition(":")
        assert re.fullmatch(r"[a-z0-9_.]+", name), f"bad keyword {name!r}"
        out.append((name, value.strip() if sep else None))
        i = j + 1
    return out


def _quoted(value: str | None) -> str:
    assert value is not None and len(value) >= 2 and value[0] == value[-1] == '"', value
    inner = value[1:-1]
    # inside quotes: no bare quote, ';' or backslash; escapes only \" \; \\
    assert re.fullmatch(r'(?:[^"\\;]|\\["\\;])*', inner), f"bad quoting {value!r}"
    return inner


def decode_content(value: str | None) -> bytes:
    inner = _quoted(value)
    assert "\\" not in inner, "content is escaped with |hex| only"
    out = bytearray()
    for k, part in enumerate(inner.split("|")):
        if k % 2:
            assert re.fullmatch(r"[0-9A-F]{2}( [0-9A-F]{2})*", part), f"bad hex {part!r}"
            out += bytes.fromhex(part)
        else:
            assert all(0x20 <= ord(c) < 0x7F for c in part), part
            out += part.encode()
    assert inner.count("|") % 2 == 0, "unbalanced |"
    assert out, "empty content"
    return bytes(out)


def check_rule(text: str) -> ParsedRule:
    assert "\n" not in text and text.isascii() and text.isprintable(), text
    m = _HEADER.fullmatch(text)
    assert m, f"bad header: {text[:120]}"
    proto, _, dst, body = m.groups()
    if dst != "any":
        ipaddress.ip_address(dst)
    opts = _options(body)
    names = [n for n, _ in opts]
    for required in ("msg", "sid", "rev", "classtype", "priority", "metadata"):
        assert names.count(required) == 1, f"{required} x{names.count(required)}: {text}"
    _quoted(dict(opts)["msg"])
    buffer: str | None = None
    contents: list[bytes] = []
    prev = ""
    for name, value in opts:
        if name in _BUFFERS:
            assert value is None
            buffer = name
        elif name == "dotprefix":
            assert buffer is not None and value is None
        elif name == "content":
            assert buffer is not None or proto == "ip", "content without a sticky buffer"
            contents.append(decode_content(value))
        elif name in _MODIFIERS:
            assert contents and prev in ("content", *_MODIFIERS), f"{name} after {prev}"
            assert (value is None) == (name != "bsize"), name
            if name == "bsize":
                assert value is not None and value.isdigit()
        elif name == "flow":
            assert value == "established,to_server"
        elif name == "metadata":
            assert value and all(_META_PAIR.fullmatch(p.strip()) for p in value.split(","))
        elif name == "classtype":
            assert value in _CLASSTYPES
        elif name == "priority":
            assert value is not None and value in "123"
        elif name == "sid":
            assert value is not None and value.isdigit() and 0 < int(value) < 2**32
        elif name == "rev":
            assert value == "1"
        else:
            assert name == "msg", f"unexpected keyword {name}"
        prev = name
    idstools_rule = idstools.rule.parse(text)
    assert idstools_rule is not None, f"idstools cannot parse {text}"
    assert int(idstools_rule.sid) == int(dict(opts)["sid"] or 0)
    assert [o["name"] for o in idstools_rule.options] == names
    return ParsedRule(proto, dst, opts, contents)


def rule_lines(text: str) -> list[ParsedRule]:
    for line in text.splitlines():
        assert not line or line.startswith("# ") or line.startswith("alert "), line
        assert line.isascii()
    return [check_rule(line) for line in text.splitlines() if line.startswith("alert ")]


# -- documents ---------------------------------------------------------------------------------


def capture_doc(cid: str = CID, verdict: str = "malicious") -> dict[str, Any]:
    return {
        "id": cid,
        "status": "done",
        "filename": "x.pcap",
        "verdict": verdict,
        "updated": "2024-05-01T10:00:00+00:00",
        "status_times": {"done": "2024-05-01T10:00:00+00:00"},
    }


def hit(value: str, kind: str, field: str, family: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "indicator": {"name": value, "type": kind, "provider": "feodo", "confidence": "High"},
        "matched": {"field": field, "atomic": value, "type": "indicator_match_rule"},
    }
    if family:
        doc["software"] = {"name": family}
    return doc


def finding(name: str, severity: str, explanation: str = "", **evidence: Any) -> dict[str, Any]:
    return {"name": name, "severity": severity, "explanation": explanation, "evidence": evidence}


def flow(
    key: str, fields: dict[str, Any], *, cid: str = CID, verdict: str = "malicious"
) -> dict[str, Any]:
    doc = {"_id": f"{cid}-{key}", "pcaptotal.capture_id": cid, "pcaptotal.verdict": verdict}
    return {**doc, **fields}


def c2_flows(cid: str = CID) -> list[dict[str, Any]]:
    return [
        flow(
            "udp-1",
            cid=cid,
            fields={
                "destination.ip": "8.8.8.8",  # the resolver: not an indicator
                "destination.port": 53,
                "network.protocol": ["dns"],
                "dns.question.name": ["Evil.Example.NET.", "benign.example.org"],
                "threat.enrichments": [hit("evil.example.net", "domain-name", "dns.question.name")],
            },
        ),
        flow(
            "tcp-2",
            cid=cid,
            fields={
                "destination.ip": "203.0.113.9",  # documentation range: not global
                "destination.port": 443,
                "network.protocol": ["tls"],
                "tls.client.server_name": ["c2.evil.example.net"],
                "tls.client.ja3": ["8b79783b7a50d6785ef5365a464f97d1"],
                "pcaptotal.findings": [finding("tls-self-signed", "medium", "self-signed")],
            },
        ),
        flow(
            "tcp-3",
            cid=cid,
            fields={
                "destination.ip": "185.255.114.40",
                "destination.port": 8219,
                "network.protocol": ["http"],
                "url.domain": ["update.evil.example.net:8219"],
                "url.original": ["/gate.php?id=1"],
                "file.hash.sha256": ["ab" * 32],
                "threat.enrichments": [
                    hit("185.255.114.40", "ipv4-addr", "destination.ip", family="STRRAT")
                ],
            },
        ),
        flow(  # clean and no hit: contributes nothing
            "tcp-4",
            cid=cid,
            verdict="clean",
            fields={"destination.ip": "1.1.1.1", "tls.client.server_name": ["one.one.one.one"]},
        ),
        flow(  # a scan's flows point at victims
            "tcp-5",
            cid=cid,
            fields={
                "destination.ip": "9.9.9.9",
                "destination.port": 23,
                "pcaptotal.findings": [finding("port-scan", "high", "scan")],
            },
        ),
    ]


# -- tests ----------------------------------------------------------------------------------------


def test_observables_from_evidence() -> None:
    obs = {(o.kind, o.value): o for o in capture_observables(capture_doc(), c2_flows())}
    assert set(obs) == {
        (Kind.DNS, "evil.example.net"),  # cited by the hit; benign.example.org is not
        (Kind.SNI, "c2.evil.example.net"),
        (Kind.JA3, "8b79783b7a50d6785ef5365a464f97d1"),
        (Kind.IP, "185.255.114.40"),
        (Kind.HTTP_HOST, "update.evil.example.net"),
        (Kind.URL, "http://update.evil.example.net:8219/gate.php?id=1"),
        (Kind.SHA256, "ab" * 32),
    }
    assert obs[(Kind.DNS, "evil.example.net")].tier is Tier.KNOWN
    assert obs[(Kind.DNS, "evil.example.net")].feeds == ("feodo",)
    assert obs[(Kind.SNI, "c2.evil.example.net")].tier is Tier.KNOWN  # malicious + medium
    assert obs[(Kind.JA3, "8b79783b7a50d6785ef5365a464f97d1")].tier is Tier.LIKELY
    assert obs[(Kind.IP, "185.255.114.40")].families == ("STRRAT",)


def test_capture_rules_are_valid_and_cite_evidence() -> None:
    text = capture_rules(capture_doc(), capture_observables(capture_doc(), c2_flows()), list(Tier))
    parsed = rule_lines(text)
    assert len(parsed) == 6  # file hashes have no inline rule
    dns = next(r for r in parsed if r.proto == "dns")
    assert dns.contents == [b".evil.example.net"]
    assert [n for n, _ in dns.options][:6] == [
        "msg",
        "dns.query",
        "dotprefix",
        "content",
        "nocase",
        "endswith",
    ]
    assert "feed feodo" in (dns.get("msg") or "") and CID in (dns.get("metadata") or "")
    assert dns.get("classtype") == "trojan-activity" and dns.get("priority") == "1"
    ip = next(r for r in parsed if r.proto == "ip")
    assert ip.dst == "185.255.114.40" and "malware_family STRRAT" in (ip.get("metadata") or "")
    ja3 = next(r for r in parsed if any(n == "ja3.hash" for n, _ in r.options))
    assert ja3.get("priority") == "2" and ja3.get("classtype") == "bad-unknown"
    url = next(r for r in parsed if any(n == "http.uri" for n, _ in r.options))
    assert url.contents == [b"update.evil.example.net", b"/gate.php?id=1"]
    assert "ja3-fingerprints" in text
    known, likely = text.split("---- likely bad")
    assert "ja3.hash;" in likely and "ja3.hash;" not in known


def test_rule_set_filter() -> None:
    obs = capture_observables(capture_doc(), c2_flows())
    known = rule_lines(capture_rules(capture_doc(), obs, [Tier.KNOWN]))
    likely = rule_lines(capture_rules(capture_doc(), obs, [Tier.LIKELY]))
    assert {r.get("priority") for r in known} == {"1"}
    assert {r.get("priority") for r in likely} == {"2"}
    assert len(known) + len(likely) == 6


def test_clean_capture_has_no_rules() -> None:
    flows = [flow("tcp-1", verdict="clean", fields={"destination.ip": "1.1.1.1"})]
    assert capture_observables(capture_doc(verdict="clean"), flows) == []
    assert rule_lines(capture_rules(capture_doc(verdict="clean"), [], list(Tier))) == []


def test_low_findings_give_priority_3() -> None:
    flows = [
        flow(
            "tcp-1",
            verdict="suspicious",
            fields={
                "destination.ip": "93.184.216.34",
                "network.protocol": ["http"],
                "url.domain": ["example.com"],
                "pcaptotal.findings": [finding("scripted-user-agent", "low", "curl")],
            },
        )
    ]
    parsed = rule_lines(
        capture_rules(capture_doc(), capture_observables(capture_doc(), flows), list(Tier))
    )
    assert {(r.get("priority"), r.get("classtype")) for r in parsed} == {("3", "misc-activity")}


HOSTILE = [
    'evil"; sid:1; rev:9; content:"x.example',
    "pipe|7C|and|pipe.example",
    "back\\slash\\.example",
    "new\nline.example\r",
    "ünïcödé.例え.jp",
    "semi;colon.example",
    "tab\tand\x00nul.example",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_escaped(value: str) -> None:
    host = value.lower().strip().rstrip(".")
    flows = [
        flow(
            "tcp-1",
            fields={
                "destination.ip": "8.8.4.4",
                "network.protocol": ["http", "tls", "dns"],
                "dns.question.name": [value],
                "tls.client.server_name": [value],
                "url.domain": [value],
                "url.original": [f"/{value}"],
                "threat.enrichments": [hit(value, "domain-name", "dns.question.name")],
            },
        )
    ]
    obs = capture_observables(capture_doc(), flows)
    parsed = rule_lines(capture_rules(capture_doc(), obs, list(Tier)))
    assert len(parsed) == 5  # ip, dns, sni, http host, url
    decoded = {c for r in parsed for c in r.contents}
    assert ("." + host).encode() in decoded  # dotprefix content: the exact bytes, escaped
    assert f"/{value}".encode() in decoded
    assert all(int(r.get("sid") or 0) != 1 for r in parsed)


def test_content_escaping_table() -> None:
    assert content("a.b") == '"a.b"'
    assert content('a"b;c\\d|e') == '"a|22|b|3B|c|5C|d|7C|e"'
    assert content("é\n") == '"|C3 A9 0A|"'
    assert decode_content(content("x|y\x7f")) == b"x|y\x7f"


def test_sids_are_stable_across_calls_and_sets() -> None:
    obs = capture_observables(capture_doc(), c2_flows())
    first = {
        r.get("msg"): r.get("sid")
        for r in rule_lines(capture_rules(capture_doc(), obs, list(Tier)))
    }
    again = {
        r.get("msg"): r.get("sid")
        for r in rule_lines(capture_rules(capture_doc(), obs, list(Tier)))
    }
    assert first == again
    sids = {o.key: sid_for(*o.key) for o in obs}
    assert all(SID_BASE <= s < SID_BASE + SID_SPACE for s in sids.values())
    # the same indicator keeps its sid when the rest of the set changes
    for subset in (obs[:2], obs[3:], obs[::2]):
        assigned = assign_sids(o.key for o in subset)
        assert all(assigned[o.key] == sids[o.key] for o in subset)
    only_known = rule_lines(capture_rules(capture_doc(), obs, [Tier.KNOWN]))
    assert {r.get("sid") for r in only_known} <= set(first.values())


def test_sid_collision_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from pcaptotal_search_api.exports import sids as module

    real = module.sid_for
    monkeypatch.setattr(
        module, "sid_for", lambda k, v, probe=0: SID_BASE + 7 if probe == 0 else real(k, v, probe)
    )
    a, b = ("dns", "a.example"), ("dns", "b.example")
    both = module.assign_sids([b, a])
    assert both[a] == SID_BASE + 7  # the smaller (kind, value) keeps the contested sid
    assert both[b] == real(*b, 1)
    assert module.assign_sids([b]) == {b: SID_BASE + 7}


def test_rolling_dedupes_across_captures() -> None:
    one = capture_observables(capture_doc(CID), c2_flows(CID))
    two = capture_observables(capture_doc(CID2, "suspicious"), c2_flows(CID2))
    merged = merge_all([*one, *two])
    assert len(merged) == len(one)
    dns = next(o for o in merged if o.kind is Kind.DNS)
    assert dns.captures == (CID, CID2) and dns.verdicts == ("malicious", "suspicious")
    since = capture_doc()["updated"]
    from datetime import datetime

    text = rolling_rules(
        [one, two],
        since=datetime.fromisoformat(since),
        min_verdict="suspicious",
        captures=2,
        tiers=list(Tier),
    )
    parsed = rule_lines(text)
    assert len(parsed) == 6 and len({r.get("sid") for r in parsed}) == 6
    assert "2 captures" in (parsed[0].get("msg") or "")
    per_capture = {r.get("sid") for r in rule_lines(capture_rules(capture_doc(), one, list(Tier)))}
    assert {r.get("sid") for r in parsed} == per_capture  # same sids as the capture's rules


def test_merge_keeps_strongest_tier() -> None:
    likely = Observable(Kind.IP, "8.8.8.8", Tier.LIKELY, "low", captures=(CID,))
    known = Observable(Kind.IP, "8.8.8.8", Tier.KNOWN, "", feeds=("f",), captures=(CID2,))
    (merged,) = merge_all([likely, known])
    assert merged.tier is Tier.KNOWN and merged.severity == "low" and merged.feeds == ("f",)
    assert rules([merged])[0].tier is Tier.KNOWN
