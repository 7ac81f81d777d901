"""Malware families and tools named by heuristic findings.

A finding sets a capture's family only when what it matched is the published fingerprint of
one family or tool, so the name is read off the evidence, never inferred from behaviour that
many families share (beaconing, DNS tunnels, host-inventory check-ins name no family):

* ``tls-c2-default-certificate``: the default certificate subject a C2 framework or RAT ships
  with (Cobalt Strike's "Major Cobalt Strike", AsyncRAT/DcRat/Quasar server certificates,
  PoshC2's "P18055077", Sliver's "multiplayer" CA, ...; ``heuristics.lists.C2_CERT_SUBJECTS``).
* ``scanner-tool``: the user agent or probe request a scanner or exploitation tool sends as it
  ships (Nikto, sqlmap, the nmap scripting engine, ...; ``heuristics.lists.SCANNER_UA``).

Each pattern below maps what those heuristics match to the family's usual spelling; a match
that none of them names sets nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# (pattern over the matched text, family); first match wins per matched string.
_CERTIFICATE_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), family)
    for p, family in (
        (r"major cobalt strike|cobaltstrike", "Cobalt Strike"),
        (r"asyncrat server", "AsyncRAT"),
        (r"dcrat", "DcRat"),
        (r"quasar server ca", "Quasar"),
        (r"venomrat", "VenomRAT"),
        (r"bitrat", "BitRAT"),
        (r"p18055077", "PoshC2"),
        (r"multiplayer", "Sliver"),
        (r"covenant", "Covenant"),
        (r"mythic", "Mythic"),
        (r"metasploit|meterpreter", "Metasploit"),
        (r"havoc", "Havoc"),
        (r"brute ratel|\bbrc4\b", "Brute Ratel"),
        (r"remcos", "Remcos"),
        (r"nanocore", "NanoCore"),
    )
)
_TOOL_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), family)
    for p, family in (
        (r"nmap scripting engine|nmap service probe", "Nmap"),
        (r"nikto", "Nikto"),
        (r"sqlmap", "sqlmap"),
        (r"masscan", "masscan"),
        (r"zgrab", "ZGrab"),
        (r"nuclei", "Nuclei"),
        (r"wpscan", "WPScan"),
        (r"dirbuster", "DirBuster"),
        (r"gobuster", "Gobuster"),
        (r"\bdirb\b", "DIRB"),
        (r"\bffuf\b|fuzz faster", "ffuf"),
        (r"wfuzz", "Wfuzz"),
        (r"hydra", "Hydra"),
        (r"acunetix", "Acunetix"),
        (r"nessus", "Nessus"),
        (r"openvas", "OpenVAS"),
        (r"w3af", "w3af"),
        (r"arachni", "Arachni"),
        (r"netsparker", "Netsparker"),
        (r"jorgee", "Jorgee"),
        (r"zmeu", "ZmEu"),
        (r"morfeus", "Morfeus"),
    )
)
# finding name -> (its table, where the matched fingerprints are)
_BY_FINDING: dict[str, tuple[tuple[tuple[re.Pattern[str], str], ...], str | None]] = {
    "tls-c2-default-certificate": (_CERTIFICATE_FAMILIES, None),
    "scanner-tool": (_TOOL_FAMILIES, "fingerprints"),
}


def _name(table: Iterable[tuple[re.Pattern[str], str]], text: str) -> str | None:
    return next((family for pattern, family in table if pattern.search(text)), None)


def finding_families(finding: Mapping[str, Any]) -> list[str]:
    """The families a finding (``Finding.to_dict`` form) names, in order; [] for findings
    that name none."""
    entry = _BY_FINDING.get(str(finding.get("name")))
    if entry is None:
        return []
    table, evidence_key = entry
    texts: list[str] = []
    if isinstance(finding.get("matched"), str):
        texts.append(finding["matched"])
    evidence = finding.get("evidence") or {}
    if evidence_key is not None and isinstance(evidence, dict):
        texts += [str(t) for t in evidence.get(evidence_key) or [] if isinstance(t, str)]
    names = (_name(table, t) for t in texts)
    return list(dict.fromkeys(n for n in names if n is not None))
