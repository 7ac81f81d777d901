"""Detection quality on the labelled corpus: every capture through the real parser and verdicts.

Runs ``tests/data/detection`` (labels from its ``MANIFEST.tsv``) and ``tests/data/pcaps``
(``corelight_*``, ``slips_*``, ``suricata-verify_malware-*`` malicious, the rest benign, as its
README says) through ``parse_capture`` (real tshark) and ``analyse_capture`` (the enricher's
heuristics and verdicts, no feed loaded), then prints:

* one line per capture: label, verdict, score, findings (name:severity);
* precision and recall per heuristic (a finding "predicts" its capture malicious);
* the confusion table (malicious/benign x flagged/clean);
* with ``--lofo``: leave-one-family-out (see ``lofo``);
* the enrich-stage CPU time (heuristics + verdicts) over the whole corpus.

The last line is exactly ``malicious_flagged=a/b benign_flagged=c/d`` (flagged = suspicious or
malicious).

    python bench/detection.py [--cache DIR] [--lofo] [--only SUBSTRING]

``--cache DIR`` keeps each capture's parsed flows as JSON (keyed by the capture's sha256 and a
hash of the parser's sources), so re-runs after a heuristics change skip tshark.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pcaptotal_enricher.heuristics import DetectionConfig, run_all  # noqa: E402
from pcaptotal_enricher.heuristics.correlate import correlate  # noqa: E402
from pcaptotal_enricher.verdict import (  # noqa: E402
    CaptureAnalysis,
    Verdict,
    analyse_capture,
    findings_score,
)
from pcaptotal_parser.parse import parse_capture  # noqa: E402

from tests.paths import DETECTION, detection_captures, shared_captures  # noqa: E402

MALICIOUS_PREFIXES = ("corelight_", "slips_", "suricata-verify_malware-")
SHARED_FAMILIES = {"malware": "emotet (HTTP POST C2)", "iot": "mirai-style telnet scan"}


@dataclass(slots=True)
class Labelled:
    path: Path
    malicious: bool
    family: str


@dataclass(slots=True)
class Result:
    capture: Labelled
    analysis: CaptureAnalysis
    enrich_s: float
    names: dict[str, str] = field(default_factory=dict)  # finding name -> worst severity


def corpus() -> list[Labelled]:
    """Every labelled capture: the detection set (MANIFEST labels) and the shared set."""
    out: list[Labelled] = []
    with (DETECTION / "MANIFEST.tsv").open(newline="") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}
    for path in detection_captures():
        row = rows[path.name]
        out.append(Labelled(path, row["label"] == "malicious", row["family_or_tool"]))
    for path in shared_captures():
        bad = path.name.startswith(MALICIOUS_PREFIXES)
        # the shared set's family (pcaps/README.md): the file name's first word after the
        # source prefix; the HTTP POST C2 sample "looks like Emotet" there
        family = path.stem.split("_", 1)[1].split("-")[0]
        out.append(Labelled(path, bad, SHARED_FAMILIES.get(family, family)))
    return out


def _parser_version() -> str:
    digest = hashlib.sha256()
    for src in sorted((REPO / "services" / "parser" / "pcaptotal_parser").rglob("*.py")):
        digest.update(src.read_bytes())
    return digest.hexdigest()[:16]


async def parse_flows(capture: Path, work: Path, cache: Path | None) -> list[dict[str, Any]]:
    """The capture's flow documents from the real parser (or the cache)."""
    key = hashlib.sha256(await asyncio.to_thread(capture.read_bytes)).hexdigest()
    cached = cache / f"{key}-{_parser_version()}.json" if cache else None
    if cached is not None and cached.is_file():
        flows: list[dict[str, Any]] = json.loads(cached.read_text())
        return flows
    result = await parse_capture(capture, key, work_dir=work)
    flows = list(result.flows.flows())
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(flows))
    return flows


def judge(item: Labelled, flows: list[dict[str, Any]], cfg: object = None) -> Result:
    start = time.process_time()
    analysis = analyse_capture(flows, cfg)
    spent = time.process_time() - start
    names: dict[str, str] = {}
    rank = {"low": 1, "medium": 2, "high": 3}
    for f in analysis.findings:
        if rank[f["severity"]] > rank.get(names.get(f["name"], ""), 0):
            names[f["name"]] = f["severity"]
    return Result(item, analysis, spent, names)


def flagged(result: Result) -> bool:
    return result.analysis.verdict is not Verdict.CLEAN


def report(results: list[Result]) -> None:
    print(f"{'label':9s} {'verdict':10s} {'score':>5s}  capture / findings")
    for r in sorted(results, key=lambda r: (not r.capture.malicious, r.capture.path.name)):
        label = "MAL" if r.capture.malicious else "benign"
        mark = "" if flagged(r) == r.capture.malicious else "  <-- WRONG"
        print(f"{label:9s} {r.analysis.verdict.value:10s} {r.analysis.score:5.1f}  "
              f"{r.capture.path.name}{mark}")  # fmt: skip
        for f in r.analysis.findings[:8]:
            print(f"{'':28s}[{f['severity']}] {f['name']}: {f['explanation'][:150]}")
        if len(r.analysis.findings) > 8:
            print(f"{'':28s}... {len(r.analysis.findings) - 8} more findings")
    print("\nper heuristic (finding present = predicts malicious; medium+ = counts alone)")
    print(f"  {'heuristic':36s} {'mal':>4s} {'ben':>4s} {'prec':>5s} {'recall':>6s}  benign")
    n_bad = sum(r.capture.malicious for r in results)
    every = sorted({n for r in results for n in r.names})
    for name in every:
        tp = [r for r in results if name in r.names and r.capture.malicious]
        fp = [r for r in results if name in r.names and not r.capture.malicious]
        prec = len(tp) / (len(tp) + len(fp)) if tp or fp else 0.0
        shown = ", ".join(f"{r.capture.path.stem[:28]}:{r.names[name]}" for r in fp[:3])
        print(f"  {name:36s} {len(tp):4d} {len(fp):4d} {prec:5.2f} {len(tp) / n_bad:6.2f}  {shown}")
    n_tp = sum(flagged(r) and r.capture.malicious for r in results)
    n_fn = sum(not flagged(r) and r.capture.malicious for r in results)
    n_fp = sum(flagged(r) and not r.capture.malicious for r in results)
    n_tn = sum(not flagged(r) and not r.capture.malicious for r in results)
    print("\nconfusion table (flagged = suspicious or malicious)")
    print(f"  {'':12s} {'flagged':>8s} {'clean':>6s}")
    print(f"  {'malicious':12s} {n_tp:8d} {n_fn:6d}")
    print(f"  {'benign':12s} {n_fp:8d} {n_tn:6d}")
    total = sum(r.enrich_s for r in results)
    n_flows = sum(len(r.analysis.flows) for r in results)
    print(f"\nenrich stage (heuristics + verdicts): {total:.3f} s CPU for {n_flows} flows "
          f"({n_flows / max(total, 1e-9):,.0f} flows/s)")  # fmt: skip


def lofo(results: list[Result]) -> list[str]:
    """Leave-one-family-out: would each malicious family still be flagged if the heuristics had
    been built without it?

    The heuristics are hand-written, not trained, so "built without it" is approximated from
    the corpus: for each held-out family, only the heuristics that ALSO fire on at least one
    other malicious family count; the correlation is recomputed from those alone. A family
    flagged only by heuristics no other family triggers is reported with them ("own"): those
    rules rest on the published technique alone (a signature such as a JNDI string), and this
    corpus cannot show that they generalise. A family is "held" when it stays flagged.
    """
    cfg = DetectionConfig()
    families: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.capture.malicious:
            families[_family_key(r.capture.family)].append(r)
    lines = []
    held = 0
    for family, members in sorted(families.items()):
        others = [r for f, rs in families.items() if f != family for r in rs]
        support = {n for r in others for n in r.names} - {"correlated-destination"}
        ok = 0
        for r in members:
            flows = r.analysis.flows
            kept = [f for f in run_all(flows, cfg) if f.name in support]
            kept += correlate(kept, flows, cfg)
            ok += findings_score(kept, cfg) >= cfg.verdict_suspicious_score
        held += ok == len(members)
        own = sorted({n for r in members for n in r.names} - support - {"correlated-destination"})
        lines.append(f"  {family[:40]:40s} {ok}/{len(members)} flagged without its own"
                     f" heuristics{' (own: ' + ', '.join(own) + ')' if own else ''}")  # fmt: skip
    lines.append(f"lofo_families_held={held}/{len(families)}")
    return lines


def _family_key(family: str) -> str:
    """One key per family across both sets (Caldera Manx/Ragdoll, Emotet variants)."""
    low = family.lower()
    for known in ("caldera", "emotet", "agenttesla", "agent tesla"):
        if known in low:
            return known.replace(" ", "")
    return low


# Every threshold at its most permissive, so each heuristic reports what it sees on benign
# traffic: the maxima are the benign base rates the defaults in heuristics/config.py cite.
PERMISSIVE = {
    "beacon_min_score": 0.0,
    "beacon_min_span_s": 0.0,
    "beacon_max_jitter": 10.0,
    "scan_half_open_min": 1,
    "scan_small_min_failed_targets": 1,
    "scan_small_min_failed_ratio": 0.0,
    "icmp_sweep_min_hosts": 1,
    "webscan_min_uris": 1,
    "webscan_min_error_ratio": 0.0,
    "brute_min_attempts": 1,
    "icmp_tunnel_min_packets": 1,
    "icmp_tunnel_max_avg_frame": 0.0,
    "icmp_tunnel_max_asymmetry": -1.0,
    "uri_blob_min_chars": 32,
    "uri_blob_min_entropy": 0.0,
    "inventory_min_fields": 1,
    "upload_min_bytes": 1,
    "upload_min_ratio": 1.0,
    "correlation_min_findings": 1,
    "tls_heartbeat_max_payload": 0,
    "tls_min_validity_days": 1e9,
}
# (finding name, evidence key) whose benign maximum is reported
BASE_RATE_KEYS = (
    ("beaconing", "score"),
    ("beaconing", "check_ins"),
    ("session-beaconing", "score"),
    ("small-scan", "half_open"),
    ("small-scan", "failed"),
    ("host-discovery", "icmp_hosts"),
    ("web-scan", "uris"),
    ("brute-force", "attempts"),
    ("icmp-tunnel", "avg_frame_out"),
    ("http-encoded-uri-blob", "length"),
    ("upload-heavy-session", "bytes_out"),
    ("tls-short-lived-certificate", "validity_days"),
)


def base_rates(results: list[Result]) -> list[str]:
    """The largest value each heuristic's evidence reaches on the BENIGN captures, with every
    threshold relaxed (``PERMISSIVE``), and which capture holds it."""

    cfg = DetectionConfig(**PERMISSIVE)
    best: dict[tuple[str, str], tuple[float, str]] = {}
    raw_ip: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.capture.malicious:
            continue
        flows = r.analysis.flows
        findings = run_all(flows, cfg)
        findings += correlate(findings, flows, cfg)
        for f in findings:
            if f.name == "http-raw-ip" and f.evidence.get("public"):
                raw_ip["/".join(f.evidence.get("methods", []))].append(r.capture.path.name)
            for name, key in BASE_RATE_KEYS:
                if f.name != name or key not in f.evidence:
                    continue
                v = f.evidence[key]
                value = float(len(v)) if isinstance(v, dict | list) else float(v)
                if name == "tls-short-lived-certificate":
                    value = -value  # the smallest validity is the interesting one
                if (name, key) not in best or value > best[(name, key)][0]:
                    best[(name, key)] = (value, r.capture.path.name)
    # correlation at the default thresholds of every other heuristic
    default = DetectionConfig(correlation_min_findings=1)
    most, most_where = 0, ""
    for r in results:
        if not r.capture.malicious:
            found = correlate(run_all(r.analysis.flows, default), r.analysis.flows, default)
            for f in found:
                if len(f.evidence["findings"]) > most:
                    most, most_where = len(f.evidence["findings"]), r.capture.path.name
    lines = [f"  {'distinct findings on one destination':42s} {most:12.3f}  ({most_where})"]
    for (name, key), (value, where) in sorted(best.items()):
        shown = -value if name == "tls-short-lived-certificate" else value
        lines.append(f"  {name + '.' + key:42s} {shown:12.3f}  ({where})")
    for methods, caps in sorted(raw_ip.items()):
        lines.append(
            f"  http to public raw IP, methods {methods}: {len(set(caps))} benign capture(s)"
        )
    return lines


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="keep parsed flows here")
    ap.add_argument("--lofo", action="store_true", help="leave-one-family-out check")
    ap.add_argument("--only", default="", help="only captures whose name contains this")
    ap.add_argument("--base-rates", action="store_true", help="benign maxima, thresholds off")
    args = ap.parse_args()
    items = [c for c in corpus() if args.only in c.path.name]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as tmp:
        for item in items:
            flows = await parse_flows(item.path, Path(tmp), args.cache)
            results.append(judge(item, flows))
    report(results)
    if args.base_rates:
        print("\nbenign base rates (largest value with every threshold relaxed)")
        print("\n".join(base_rates(results)))
    if args.lofo:
        print("\nleave-one-family-out (malicious families)")
        print("\n".join(lofo(results)))
    bad = [r for r in results if r.capture.malicious]
    good = [r for r in results if not r.capture.malicious]
    print(f"malicious_flagged={sum(map(flagged, bad))}/{len(bad)} "
          f"benign_flagged={sum(map(flagged, good))}/{len(good)}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
