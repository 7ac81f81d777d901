"""Suricata rules for observables: one rule per (kind, value), two rule sets.

* ``known`` (feed hits, malicious verdicts): priority 1, classtype ``trojan-activity``.
* ``likely`` (heuristic findings only): priority 2 and classtype ``bad-unknown`` when a medium
  or high finding backs it, else priority 3 and ``misc-activity``.

Everything taken from traffic is hostile input. Content goes out as printable ASCII with every
other byte, and ``"`` ``;`` ``\\`` ``|``, written as ``|XX|`` hex (no escape-rule subtleties);
``msg`` keeps printable ASCII with ``"`` ``;`` ``\\`` backslash-escaped; metadata values keep
``[A-Za-z0-9_.:-]`` only. Carved-file hashes get no rule: ``filesha256`` needs a list file on
the sensor, not an inline value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pcaptotal_search_api.exports.observables import Kind, Observable, Tier
from pcaptotal_search_api.exports.sids import assign_sids

RULE_KINDS = (Kind.IP, Kind.DNS, Kind.SNI, Kind.HTTP_HOST, Kind.URL, Kind.JA3)
JA3_NOTE = (
    "JA3 rules (ja3.hash) need app-layer.protocols.tls.ja3-fingerprints: yes in suricata.yaml"
)
_LITERAL = frozenset(chr(c) for c in range(0x20, 0x7F)) - set('";\\|')
_META_BAD = re.compile(r"[^A-Za-z0-9_.:-]+")
_MSG_VALUE_MAX = 80
_META_LIST_MAX = 5
_SET_TITLES = {
    Tier.KNOWN: "known bad: feed hits and malicious verdicts (priority 1, trojan-activity)",
    Tier.LIKELY: "likely bad: heuristic findings only (priority 2 bad-unknown, 3 misc-activity)",
}
_WHAT = {
    Kind.IP: "traffic with",
    Kind.DNS: "DNS query for",
    Kind.SNI: "TLS SNI",
    Kind.HTTP_HOST: "HTTP Host",
    Kind.URL: "HTTP request",
    Kind.JA3: "TLS client JA3",
}


def content(value: str) -> str:
    """A ``content:"..."`` argument matching exactly the UTF-8 bytes of ``value``."""
    out: list[str] = []
    hexrun: list[str] = []
    for ch in value:
        if ch in _LITERAL:
            if hexrun:
                out.append("|" + " ".join(hexrun) + "|")
                hexrun = []
            out.append(ch)
        else:
            hexrun += [f"{b:02X}" for b in ch.encode("utf-8")]
    if hexrun:
        out.append("|" + " ".join(hexrun) + "|")
    return '"' + "".join(out) + '"'


def msg_text(text: str) -> str:
    """Printable ASCII with the three characters a quoted option cannot hold escaped."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return re.sub(r'(["\\;])', r"\\\1", clean)


def meta_value(text: str) -> str:
    return _META_BAD.sub("_", text).strip("_") or "unknown"


def _shorten(value: str) -> str:
    return value if len(value) <= _MSG_VALUE_MAX else value[: _MSG_VALUE_MAX - 3] + "..."


@dataclass(frozen=True, slots=True)
class Rule:
    sid: int
    tier: Tier
    text: str


def _priority(o: Observable) -> tuple[int, str]:
    if o.tier is Tier.KNOWN:
        return 1, "trojan-activity"
    if o.severity in ("medium", "high"):
        return 2, "bad-unknown"
    return 3, "misc-activity"


def _message(o: Observable) -> str:
    label = "KNOWN BAD" if o.tier is Tier.KNOWN else "LIKELY BAD"
    why: list[str] = []
    if o.feeds:
        why.append("feed " + ",".join(o.feeds))
    if o.families:
        why.append("family " + ",".join(o.families))
    if o.findings:
        why.append("findings " + ",".join(o.findings))
    if len(o.captures) == 1:
        why.append(f"capture {o.captures[0][:12]} {','.join(o.verdicts)}")
    else:
        why.append(f"{len(o.captures)} captures")
    return f"PCAPTOTAL {label} {_WHAT[o.kind]} {_shorten(o.value)} ({'; '.join(why)})"


def _metadata(o: Observable) -> str:
    pairs = [("pcaptotal_tier", o.tier.value), ("pcaptotal_kind", o.kind.value)]
    pairs += [("pcaptotal_capture", c) for c in o.captures[:_META_LIST_MAX]]
    if len(o.captures) > _META_LIST_MAX:
        pairs.append(("pcaptotal_captures", str(len(o.captures))))
    pairs += [("pcaptotal_verdict", v) for v in o.verdicts]
    pairs += [("pcaptotal_feed", f) for f in o.feeds]
    pairs += [("malware_family", f) for f in o.families]
    pairs += [("pcaptotal_finding", f) for f in o.findings]
    return ", ".join(f"{meta_value(k)} {meta_value(v)}" for k, v in pairs)


def _host_match(buffer: str, name: str, *, nocase: bool = True) -> str:
    # dotprefix + endswith: the name itself and every subdomain, never "xevil.com"
    case = " nocase;" if nocase else ""
    return f"{buffer}; dotprefix; content:{content('.' + name)};{case} endswith;"


def _match(o: Observable) -> tuple[str, str] | None:
    """(header, detection options) or None when Suricata cannot express it inline."""
    v = o.value
    if o.kind is Kind.IP:
        return f"alert ip $HOME_NET any -> {v} any", ""
    if o.kind is Kind.DNS:
        return "alert dns $HOME_NET any -> any any", _host_match("dns.query", v)
    if o.kind is Kind.SNI:
        return (
            "alert tls $HOME_NET any -> any any",
            "flow:established,to_server; " + _host_match("tls.sni", v),
        )
    if o.kind is Kind.HTTP_HOST:
        # http.host is normalised to lowercase: nocase there only earns a warning
        return (
            "alert http $HOME_NET any -> any any",
            "flow:established,to_server; " + _host_match("http.host", v, nocase=False),
        )
    if o.kind is Kind.URL:
        return _url_match(v)
    if o.kind is Kind.JA3:
        # needs app-layer.protocols.tls.ja3-fingerprints: yes (see JA3_NOTE)
        return (
            "alert tls $HOME_NET any -> any any",
            f"flow:established,to_server; ja3.hash; content:{content(v)};",
        )
    return None


def _split_authority(authority: str) -> str:
    """The host of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``, lowercased."""
    if authority.startswith("["):
        return authority[1 : authority.find("]")].lower()
    return (authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority).lower()


def _url_match(url: str) -> tuple[str, str] | None:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    if slash < 0 or rest[slash:] == "/":
        return None  # the host rule says it all
    host, uri = _split_authority(rest[:slash]), rest[slash:]
    # http.uri is normalised (percent-decoding): a URI with escapes matches only raw
    buffer = "http.uri.raw" if "%" in uri else "http.uri"
    opts = "flow:established,to_server; "
    try:  # a raw-IP host goes in the header, where Suricata compares addresses
        header = f"alert http $HOME_NET any -> {ipaddress.ip_address(host)} any"
    except ValueError:
        if not host:
            return None
        header = "alert http $HOME_NET any -> any any"
        opts += f"http.host; content:{content(host)}; bsize:{len(host.encode())}; "
    return header, opts + f"{buffer}; content:{content(uri)}; startswith;"


def rule(o: Observable, sid: int) -> Rule | None:
    matched = _match(o)
    if matched is None:
        return None
    header, detection = matched
    priority, classtype = _priority(o)
    body = f'msg:"{msg_text(_message(o))}"; '
    body += f"{detection} " if detection else ""
    body += f"metadata: {_metadata(o)}; classtype:{classtype}; priority:{priority}; "
    body += f"sid:{sid}; rev:1;"
    return Rule(sid=sid, tier=o.tier, text=f"{header} ({body})")


def rules(observables: Iterable[Observable]) -> list[Rule]:
    """Rules for the observables Suricata can match inline, sids by ``sids.assign_sids``."""
    usable = [o for o in observables if o.kind in RULE_KINDS]
    sids = assign_sids(o.key for o in usable)
    out = [r for o in usable if (r := rule(o, sids[o.key])) is not None]
    return out


def comment(text: str) -> str:
    return "# " + "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def render(header: Sequence[str], built: Sequence[Rule], tiers: Sequence[Tier]) -> str:
    """A rules file: comment header, then one commented section per rule set."""
    lines = [comment(h) for h in header]
    if any(" ja3.hash; " in r.text for r in built):
        lines.append(comment(JA3_NOTE))
    for tier in tiers:
        chosen = [r for r in built if r.tier is tier]
        lines += ["", comment(f"---- {_SET_TITLES[tier]}: {len(chosen)} rule(s) ----")]
        lines += [r.text for r in chosen]
    return "\n".join(lines) + "\n"
