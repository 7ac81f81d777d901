"""Detection quality on every shared capture, from heuristics alone (no feed loaded).

The malware / C2 / scan captures named in ``tests/data/pcaps/README.md`` (``corelight_*``,
``slips_*``, ``suricata-verify_malware-*``) must come out suspicious or malicious; every other
capture is a benign protocol sample and must come out clean.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pcaptotal_enricher.verdict import CaptureAnalysis, Verdict, analyse_capture

from tests.paths import shared_captures

pytestmark = pytest.mark.integration

MALICIOUS_PREFIXES = ("corelight_", "slips_", "suricata-verify_malware-")
CAPTURES = shared_captures()


def expected_bad(capture: Path) -> bool:
    return capture.name.startswith(MALICIOUS_PREFIXES)


@pytest.fixture(scope="module")
def analyses(
    parsed_flows: Callable[[Path], list[dict[str, Any]]],
) -> dict[str, CaptureAnalysis]:
    """Every shared capture through the real parser (once per session), then analysed."""
    out = {c.name: analyse_capture(parsed_flows(c)) for c in CAPTURES}
    bad = [n for n in out if n.startswith(MALICIOUS_PREFIXES)]
    good = [n for n in out if n not in bad]
    detected = sum(out[n].verdict is not Verdict.CLEAN for n in bad)
    false_pos = sum(out[n].verdict is not Verdict.CLEAN for n in good)
    print(
        f"\ndetection rate {detected}/{len(bad)} = {detected / max(len(bad), 1):.0%}; "
        f"false-positive rate {false_pos}/{len(good)} = {false_pos / max(len(good), 1):.0%} "
        "(heuristics only, no feeds)"
    )
    for name, a in sorted(out.items()):
        top = "; ".join(f["name"] for f in a.findings[:4])
        print(f"  {name:50s} {a.verdict.value:10s} {a.score:5.1f}  {top}")
    return out


def test_every_shared_capture_is_covered() -> None:
    assert sum(expected_bad(c) for c in CAPTURES) == 7
    assert len(CAPTURES) >= 30


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_capture_class(capture: Path, analyses: dict[str, CaptureAnalysis]) -> None:
    result = analyses[capture.name]
    if expected_bad(capture):
        assert result.verdict in (Verdict.SUSPICIOUS, Verdict.MALICIOUS), result.reasons
        assert result.reasons and result.findings
    else:
        assert result.verdict is Verdict.CLEAN, result.reasons
