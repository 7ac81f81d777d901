"""Thresholds of the heuristics and the verdict rules (one frozen object, built from Settings).

Every threshold has a default here; the ones people tune most are also ``Settings`` fields
(``PCAPTOTAL_*`` environment variables) and ``DetectionConfig.from_settings`` copies them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class DetectionConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    # beaconing: repeated connections from one host to one destination:port, scored like RITA
    # (median absolute deviation and Bowley skew of the intervals and of the bytes per check-in)
    beacon_min_connections: int = 6  # check-ins (after merging bursts) needed
    # kept for compatibility (settings/env): a cap on the interval jitter (MAD / median) that
    # still counts; 0.5 covers the +-50 % uniform jitter C2 frameworks offer (Cobalt Strike
    # "jitter" 0-99 %, Sliver --jitter, Mythic): its MAD is 25 % of the median
    beacon_max_jitter: float = 0.5
    # merge connections opened closer than min(beacon_burst_s, 0.25 x the median gap) to the
    # previous check-in: parallel connections of one check-in open within milliseconds, while
    # a 1 s beacon with 50 % jitter still has gaps >= 0.5 s
    beacon_burst_s: float = 2.0
    # a beacon persists: browsers open their parallel connections within the first seconds of
    # a page load, so a regular pattern must last this long (6 check-ins at the 5 s floor of
    # the old rule = 30 s)
    beacon_min_span_s: float = 30.0
    # RITA's cut-offs for its beacon score; measured benign maximum over every host/destination
    # pair with >= 6 check-ins in the 39 benign captures: 0.53 (0.44 with the 30 s span);
    # no benign session has >= 6 client bursts (session-beaconing)
    beacon_min_score: float = 0.80
    beacon_high_score: float = 0.90  # and high (with 2x beacon_min_connections check-ins)
    # heartbeat inside one long TCP session (only packet counts/bytes/duration are visible)
    heartbeat_min_duration_s: float = 120.0
    heartbeat_min_packets: int = 20  # in each direction
    heartbeat_max_bytes_per_s: float = 1000.0
    heartbeat_max_avg_packet: float = 400.0  # bytes per packet, both directions together
    # long-lived connections and large outbound transfers (public destinations)
    long_connection_s: float = 3600.0
    large_outbound_bytes: int = 50_000_000
    large_outbound_ratio: float = 5.0  # sent / received at least this
    # DGA-like names (registered-domain label)
    dga_min_length: int = 10
    dga_min_entropy: float = 3.3  # bits per character
    dga_max_consonant_run: int = 5  # a run longer than this counts as unpronounceable
    dga_min_digit_ratio: float = 0.3
    dga_min_digit_switches: int = 4  # letter↔digit alternations (a1b2c3…)
    dga_many_names: int = 5  # this many distinct DGA-like names (or NXDOMAINs) → high
    # DNS tunnelling (per parent domain)
    tunnel_min_unique_subdomains: int = 30
    tunnel_long_label: int = 40  # label length considered "long"
    tunnel_min_long_labels: int = 3
    tunnel_label_entropy: float = 3.8  # bits/char for a label of >= 16 chars
    tunnel_min_txt_queries: int = 20
    # port scan / host sweep (one source)
    scan_min_ports: int = 15  # distinct ports on one host
    sweep_min_hosts: int = 15  # distinct hosts on one port
    scan_min_failed_ratio: float = 0.6  # share of attempts without an answer / refused
    # small scans. Half-open: a SYN answered by SYN-ACK and reset by the client without any
    # payload is what raw-socket scanners do (nmap -sS, masscan); OS stacks finish the
    # handshake. Measured benign base rate: 0 such flows in 39 benign captures.
    scan_half_open_min: int = 3  # half-open targets (host:port) from one source
    # failed attempts (no answer / RST) to distinct targets from one source; measured benign
    # base rate: at most 1 distinct failed target per source in the 39 benign captures
    scan_small_min_failed_targets: int = 6
    scan_small_min_failed_ratio: float = 0.5
    # ICMP echo to many hosts: OS ping tools ask one host; nmap -sn / fping sweep ranges.
    # Measured benign base rate: at most 1 echo destination per source.
    icmp_sweep_min_hosts: int = 8
    # nmap -sn host discovery probes each host with ICMP echo + TCP SYN 443 + TCP ACK 80
    discovery_min_hosts: int = 3
    # web scanning: many distinct URIs to one server, mostly errors or unanswered; browsers
    # fetch existing resources (measured benign: at most 30 distinct URIs to one server)
    webscan_min_uris: int = 100
    webscan_min_error_ratio: float = 0.5
    # brute force: many short sessions / attempts against one authentication service.
    # Hydra/Medusa/ncrack run 4-16 parallel tasks, one attempt per session; account lockout
    # baselines (CIS) allow 5-10 failures; benign clients keep one session (measured benign:
    # at most 1 short session to one authentication service).
    brute_min_attempts: int = 10
    brute_window_s: float = 600.0
    brute_max_session_s: float = 30.0  # an attempt is a short session
    # ICMP covert channels: echo replies must carry the request's payload (RFC 792), so
    # per-direction average sizes differ only by padding; OS ping payloads are 32 B (Windows)
    # or 56 B (Linux, macOS, BSD) => frames of 74-118 B with IPv4/IPv6 headers (measured
    # benign maximum: 98 B average, replies mirroring requests)
    icmp_tunnel_min_packets: int = 10
    icmp_tunnel_max_avg_frame: float = 160.0  # larger average echo frames are not OS pings
    icmp_tunnel_max_asymmetry: float = 16.0  # bytes of average size difference allowed
    # long-lived sessions that no dissector recognised (raw/custom protocols)
    unknown_session_min_s: float = 60.0
    # upload-heavy sessions: clients download far more than they send (web ~1:10); C2 output
    # and exfiltration invert it (mail, file transfer and remote shells are left out). Measured
    # benign at these defaults: 1 session in the 39 benign captures (a Netflix API call); a
    # low, corroborating signal only
    upload_min_bytes: int = 4000
    upload_min_ratio: float = 4.0
    # cleartext TLS heartbeats: RFC 6520 heartbeats are keep-alives / PMTU probes (<= one MTU);
    # Heartbleed requests claim up to 16-64 kB
    tls_heartbeat_max_payload: int = 2048
    # certificates valid for less than this many days (the shortest public CA offer is 6-day
    # Let's Encrypt certificates; C2 kits mint certificates on the fly). Measured benign
    # shortest: 84 days.
    tls_min_validity_days: float = 5.0
    # long encoded blob in a URI (base64/hex alphabet, no separators): measured benign maximum
    # 168 chars (Netflix CDN signed-URL tokens); encoded C2 check-ins/exfil run to hundreds
    uri_blob_min_chars: int = 200
    uri_blob_min_entropy: float = 4.5
    # host inventory in form fields (loader/stealer check-ins: Amadey, SmokeLoader, Azorult)
    inventory_min_fields: int = 3
    # correlation: distinct findings pointing at the same destination address add up. A
    # finding that cites flows to more than ``correlation_max_destinations`` addresses is
    # about the capture (scan, DGA), not one destination. Measured benign base rate: at most
    # 1 distinct finding on one destination in the 39 benign captures (malicious: up to 6).
    correlation_min_findings: int = 3  # distinct findings on one destination => medium
    correlation_high_findings: int = 4  # => high, when at least two are medium or worse
    correlation_max_destinations: int = 3
    # verdicts (see pcaptotal_enricher.verdict)
    verdict_suspicious_score: float = 30.0
    verdict_malicious_score: float = 70.0
    verdict_malicious_min_confidence: Literal["High", "Medium"] = "High"
    weight_low: float = 10.0
    weight_medium: float = 35.0
    weight_high: float = 70.0
    max_evidence_flow_ids: int = 50

    @classmethod
    def from_settings(cls, settings: Any) -> DetectionConfig:
        """Take every field that ``settings`` (a ``pcaptotal.settings.Settings``) also has, then
        ``settings.detection_overrides`` (``PCAPTOTAL_DETECTION_OVERRIDES``, a JSON object of
        any of these field names), so every threshold is configurable."""
        known = {
            name: getattr(settings, name) for name in cls.model_fields if hasattr(settings, name)
        }
        overrides = getattr(settings, "detection_overrides", None) or {}
        unknown = sorted(set(overrides) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"detection_overrides: unknown threshold(s) {', '.join(unknown)}")
        return cls(**{**known, **overrides})


def resolve(cfg: Any) -> DetectionConfig:
    """Accept a ``DetectionConfig``, a ``Settings`` (or any object with the same names), None."""
    if cfg is None:
        return DetectionConfig()
    if isinstance(cfg, DetectionConfig):
        return cfg
    return DetectionConfig.from_settings(cfg)
