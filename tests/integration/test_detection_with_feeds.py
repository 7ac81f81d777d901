"""Detection with threat-intel feeds loaded, on every shared capture.

The feeds are written here in the publishers' exact layouts (Feodo Tracker CSV, ThreatFox CSV
export) and hold only the C2 infrastructure the shared captures' README names publicly. With
them, the captures talking to that infrastructure become malicious and are tagged with the
family; benign captures stay clean (no indicator of theirs is in any feed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pcaptotal_enricher.intel import IntelEnrichment, build_indicator_set
from pcaptotal_enricher.verdict import CaptureAnalysis, Verdict, analyse_capture

from tests.paths import shared_captures

pytestmark = pytest.mark.integration

CAPTURES = shared_captures()
MALICIOUS_PREFIXES = ("corelight_", "slips_", "suricata-verify_malware-")

FEODO = """\
"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
"2021-06-01 10:00:00","185.255.114.40","8219","offline","2021-06-30","STRRAT"
"2021-06-01 10:00:00","181.131.218.39","4041","offline","2021-06-30","AsyncRAT"
"2020-08-01 10:00:00","74.120.55.163","80","offline","2020-09-30","Emotet"
"""
# ThreatFox CSV export: commented, quoted header; '", "' separators; trailing count line.
THREATFOX = (
    "\n".join(
        [
            '# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level","is_compromised","reference","tags","anonymous","reporter"',
            '"2021-06-01 10:00:00", "1", "carlosenriquezdomin.con-ip.com", "domain", "botnet_cc", "win.asyncrat", "", "AsyncRAT", "", "100", "0", "", "c2", "0", "reporter1"',
            '"2021-06-01 10:00:00", "2", "ftp.elquijotebanquetes.com", "domain", "botnet_cc", "win.agent_tesla", "AgenTesla", "Agent Tesla", "", "100", "0", "", "exfil", "0", "reporter1"',
            '"2021-06-01 10:00:00", "3", "smtp.trisquarespl.com", "domain", "botnet_cc", "win.agent_tesla", "AgenTesla", "Agent Tesla", "", "75", "0", "", "exfil", "0", "reporter1"',
            "# Number of entries: 3",
        ]
    )
    + "\n"
)
FAMILIES = {
    "corelight_strrat-c2.pcap": "STRRAT",
    "corelight_asyncrat-c2.pcap": "AsyncRAT",
    "suricata-verify_malware-http-post-c2.pcap": "Emotet",
    "corelight_agenttesla-ftp-exfil.pcap": "Agent Tesla",
    "corelight_agenttesla-smtp-sandbox.pcap": "Agent Tesla",
}


@pytest.fixture(scope="module")
def analyses(
    parsed_flows: Callable[[Path], list[dict[str, Any]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, CaptureAnalysis]:
    work = tmp_path_factory.mktemp("feeds")
    (work / "feodo_ipblocklist.csv").write_text(FEODO)
    (work / "threatfox_export.csv").write_text(THREATFOX)
    indicators = build_indicator_set(
        [(p.name, p) for p in (work / "feodo_ipblocklist.csv", work / "threatfox_export.csv")]
    )
    for stats in indicators.feeds.values():
        assert stats.malformed == 0, stats
    match = IntelEnrichment(lambda: indicators)

    out = {c.name: analyse_capture(match(parsed_flows(c))) for c in CAPTURES}
    bad = [n for n in out if n.startswith(MALICIOUS_PREFIXES)]
    good = [n for n in out if n not in bad]
    detected = sum(out[n].verdict is not Verdict.CLEAN for n in bad)
    malicious = sum(out[n].verdict is Verdict.MALICIOUS for n in bad)
    false_pos = sum(out[n].verdict is not Verdict.CLEAN for n in good)
    print(
        f"\nwith feeds: detection rate {detected}/{len(bad)}, malicious {malicious}/{len(bad)}; "
        f"false positives {false_pos}/{len(good)}"
    )
    return out


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_feed_named_infrastructure_is_malicious_and_tagged(
    analyses: dict[str, CaptureAnalysis], name: str
) -> None:
    a = analyses[name]
    assert a.verdict is Verdict.MALICIOUS, (a.score, a.reasons)
    assert FAMILIES[name] in a.tags
    hit_flows = [f for f in a.flows if f.get("threat.enrichments")]
    assert hit_flows and all(f["pcaptotal.verdict"] == "malicious" for f in hit_flows)


def test_benign_captures_stay_clean(analyses: dict[str, CaptureAnalysis]) -> None:
    for name, a in analyses.items():
        if not name.startswith(MALICIOUS_PREFIXES):
            assert a.verdict is Verdict.CLEAN, (name, a.reasons)
            assert not any(f.get("threat.enrichments") for f in a.flows), name
