"""Verdicts per flow and per capture: ``malicious`` | ``suspicious`` | ``clean``, a 0-100 score
(``event.risk_score``), the reasons, and the capture's tags: the malware families (and tools)
named by feeds and by findings that match a family's published fingerprint (``families``).

Rules (thresholds are ``DetectionConfig`` / ``Settings`` fields, ``PCAPTOTAL_<NAME>``):

* **Feed hits** (``threat.enrichments``, ECS's layout): a hit whose
  confidence is at least ``verdict_malicious_min_confidence`` (``High`` by default; set it to
  ``Medium`` to trust Medium hits too) makes the flow **malicious** (score 95 for High, 85 for
  Medium). A weaker hit scores 60 (Medium) or 45 (Low, or no confidence given): suspicious.
* **Findings** weigh ``weight_low`` (10), ``weight_medium`` (35) or ``weight_high`` (70) by
  severity. Only the heaviest finding of each *name* counts (a heuristic that fires 50 times is
  one signal), and the weights combine as independent evidence:
  ``score = 100 * (1 - prod(1 - w/100))``. Low findings alone never make anything suspicious
  (their combined score stays below ``verdict_suspicious_score``).
* **Correlation**: three or more distinct findings whose flows go to one destination address
  add a ``correlated-destination`` finding (medium; high with four or more of which two are
  medium), so weak signals about one C2 add up while the same number spread across a busy
  capture do not (``pcaptotal_enricher.heuristics.correlate``).
* **Verdict from score**: ``>= verdict_malicious_score`` (70) malicious, ``>=
  verdict_suspicious_score`` (30) suspicious, else clean. So: one high finding → malicious; one
  medium → suspicious; three distinct medium findings (or high + medium) → malicious.
* **Flow** = its own feed hits + the findings that cite it. **Capture** = the worst flow verdict,
  raised by all the capture's findings and feed hits combined the same way (a scan made of
  hundreds of individually harmless flows is judged as a whole).

``analyse_capture`` holds one capture's flows in memory (heuristics need the whole capture);
fine for the captures we take today, a streaming two-pass variant is future work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from pcaptotal_enricher.families import finding_families
from pcaptotal_enricher.heuristics import Finding, Severity, run_all
from pcaptotal_enricher.heuristics.config import DetectionConfig, resolve
from pcaptotal_enricher.heuristics.correlate import correlate
from pcaptotal_enricher.heuristics.names import remembered_names
from pcaptotal_enricher.heuristics.util import FlowDoc, clear_caches, flow_id


class Verdict(StrEnum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return {"clean": 0, "suspicious": 1, "malicious": 2}[self.value]


_CONF_RANK = {"low": 1, "medium": 2, "high": 3}
_HIT_SCORE = {1: 45.0, 2: 60.0, 3: 95.0}
_FORCED_SCORE = {2: 85.0, 3: 95.0}


class Judgement(BaseModel):
    verdict: Verdict
    score: float
    reasons: list[str] = Field(default_factory=list)


@dataclass(slots=True)
class CaptureAnalysis:
    """The annotated flows (the caller's dicts, not copies) and the capture-level result."""

    flows: list[dict[str, Any]]
    verdict: Verdict
    score: float
    reasons: list[str]
    tags: list[str]
    findings: list[dict[str, Any]]
    flow_verdicts: dict[str, int]  # verdict → number of flows


def combine(weights: Iterable[float]) -> float:
    """Independent evidence: ``100 * (1 - prod(1 - w/100))``."""
    rest = 1.0
    for w in weights:
        rest *= 1.0 - min(max(w, 0.0), 100.0) / 100.0
    return round(100.0 * (1.0 - rest), 1)


def findings_score(findings: Iterable[Finding], cfg: DetectionConfig) -> float:
    weight = {Severity.LOW: cfg.weight_low, Severity.MEDIUM: cfg.weight_medium}
    weight[Severity.HIGH] = cfg.weight_high
    best: dict[str, Finding] = {}
    for f in findings:
        if f.name not in best or f.severity.rank > best[f.name].severity.rank:
            best[f.name] = f
    score = combine(weight[f.severity] for f in best.values())
    if all(f.severity is Severity.LOW for f in best.values()):
        score = min(score, max(cfg.verdict_suspicious_score - 5.0, 0.0))
    return score


def _hits(flow: FlowDoc) -> list[tuple[int, str, str, str]]:
    """(confidence rank, provider, indicator, family) for each feed hit on the flow."""
    out: list[tuple[int, str, str, str]] = []
    for e in flow.get("threat.enrichments") or []:
        if isinstance(e, dict):
            ind = e.get("indicator") or {}
            sw = e.get("software") or {}
            conf = _CONF_RANK.get(str(ind.get("confidence") or "medium").lower(), 1)
            out.append(
                (
                    conf,
                    str(ind.get("provider") or "?"),
                    str(ind.get("name") or "?"),
                    str(sw.get("name") or ""),
                )
            )
    return out


def intel_judgement(flow: FlowDoc, cfg: DetectionConfig) -> tuple[float, bool, list[str]]:
    """(score, forced malicious, reasons) from the flow's feed hits."""
    minimum = _CONF_RANK[cfg.verdict_malicious_min_confidence.lower()]
    score, forced, reasons = 0.0, False, []
    names = {1: "Low", 2: "Medium", 3: "High"}
    for conf, provider, indicator, family in sorted(_hits(flow), reverse=True):
        hit_forced = conf >= minimum
        forced |= hit_forced
        score = max(score, _FORCED_SCORE.get(conf, 95.0) if hit_forced else _HIT_SCORE[conf])
        fam = f", family {family}" if family else ""
        reasons.append(f"feed {provider} lists {indicator} (confidence {names[conf]}{fam})")
    return score, forced, reasons


def judge(
    findings: list[Finding], intel: tuple[float, bool, list[str]], cfg: DetectionConfig
) -> Judgement:
    intel_score, forced, intel_reasons = intel
    score = combine([findings_score(findings, cfg), intel_score])
    if forced or score >= cfg.verdict_malicious_score:
        verdict = Verdict.MALICIOUS
    elif score >= cfg.verdict_suspicious_score:
        verdict = Verdict.SUSPICIOUS
    else:
        verdict = Verdict.CLEAN
    ordered = sorted(findings, key=lambda f: -f.severity.rank)
    reasons = intel_reasons + [f"[{f.severity.value}] {f.explanation}" for f in ordered]
    return Judgement(verdict=verdict, score=score, reasons=reasons)


def _annotate(
    flow: FlowDoc,
    judgement: Judgement,
    cited: list[Finding],
    cfg: DetectionConfig,
    as_dicts: dict[int, dict[str, Any]] | None = None,
) -> None:
    """``as_dicts``: the findings' JSON forms by ``id(finding)``, made once per finding and
    shared by every flow it cites (a scan finding cites thousands of flows)."""
    flow["pcaptotal.verdict"] = judgement.verdict.value
    flow["event.risk_score"] = judgement.score
    if cited:
        flow["pcaptotal.finding.name"] = list(dict.fromkeys(f.name for f in cited))
        flow["pcaptotal.finding.severity"] = list(dict.fromkeys(f.severity.value for f in cited))
        cache = {} if as_dicts is None else as_dicts
        out = []
        for f in cited:
            entry = cache.get(id(f))
            if entry is None:
                entry = cache[id(f)] = f.to_dict(cfg.max_evidence_flow_ids)
            out.append(entry)
        flow["pcaptotal.findings"] = out


def analyse_capture(flows: list[FlowDoc], cfg: object = None) -> CaptureAnalysis:
    """Run every heuristic over one capture's flows, judge each flow and the capture.

    ``cfg``: a ``DetectionConfig``, a ``pcaptotal.settings.Settings`` or None (defaults).
    The flow dicts are annotated in place (and returned in ``CaptureAnalysis.flows``):
    ``pcaptotal.verdict``, ``event.risk_score`` on every flow; ``pcaptotal.finding.name``,
    ``pcaptotal.finding.severity`` and ``pcaptotal.findings`` (finding dicts, not indexed) on
    the flows a finding cites.
    """
    config = resolve(cfg)
    try:
        return _analyse(flows, config)
    finally:
        clear_caches()  # per-capture caches: nothing of this capture stays behind


def _analyse(flows: list[FlowDoc], config: DetectionConfig) -> CaptureAnalysis:
    with remembered_names():
        findings = run_all(flows, config)
        findings += correlate(findings, flows, config)
    by_flow: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        for fid in dict.fromkeys(finding.flow_ids):
            by_flow[fid].append(finding)
    counts = {v.value: 0 for v in Verdict}
    worst = Verdict.CLEAN
    capture_intel: list[tuple[float, bool, list[str]]] = []
    tags: set[str] = set()
    # Most flows have neither a finding nor a feed hit: they all get the one judgement of no
    # evidence, worked out once (judging each costs more than every heuristic together).
    no_evidence = judge([], (0.0, False, []), config)
    as_dicts: dict[int, dict[str, Any]] = {}
    for flow in flows:
        cited = by_flow.get(flow_id(flow), []) if by_flow else []
        if not cited and not flow.get("threat.enrichments"):
            _annotate(flow, no_evidence, cited, config)
            counts[no_evidence.verdict.value] += 1
            worst = max(worst, no_evidence.verdict, key=lambda v: v.rank)
            continue
        intel = intel_judgement(flow, config)
        if intel[2]:
            capture_intel.append(intel)
        tags.update(h[3] for h in _hits(flow) if h[3])
        judgement = judge(cited, intel, config)
        _annotate(flow, judgement, cited, config, as_dicts)
        counts[judgement.verdict.value] += 1
        worst = max(worst, judgement.verdict, key=lambda v: v.rank)
    merged = (
        max((s for s, _, _ in capture_intel), default=0.0),
        any(f for _, f, _ in capture_intel),
        list(dict.fromkeys(r for _, _, rs in capture_intel for r in rs)),
    )
    capture = judge(findings, merged, config)
    verdict = max(worst, capture.verdict, key=lambda v: v.rank)
    stored = [f.to_dict(config.max_evidence_flow_ids) for f in findings]
    for entry in stored:
        named = finding_families(entry)
        if named:
            entry["families"] = named
            tags.update(named)
    return CaptureAnalysis(
        flows=flows,
        verdict=verdict,
        score=capture.score,
        reasons=capture.reasons[:50],
        tags=sorted(tags),
        findings=stored,
        flow_verdicts=counts,
    )


class VerdictEnrichment:
    """``Enrichment``-compatible step: call it ONCE per capture with all its flows (after the
    intel step); the capture-level result is kept in ``last``."""

    def __init__(self, cfg: object = None) -> None:
        self._cfg = resolve(cfg)
        self.last: CaptureAnalysis | None = None

    def __call__(self, flows: list[FlowDoc]) -> list[FlowDoc]:
        self.last = analyse_capture(flows, self._cfg)
        return self.last.flows
