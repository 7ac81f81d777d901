"""Thresholds of the heuristics and the verdict rules (one frozen object, built from Settings).

Every threshold has a default here; the ones people tune most are also ``Settings`` fields
(``PCAPTOTAL_*`` environment variables) and ``DetectionConfig.from_settings`` copies them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class DetectionConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    # beaconing: repeated connections from one host to one destination:port
    beacon_min_connections: int = 6  # check-ins (after merging bursts) needed
    beacon_max_jitter: float = 0.25  # coefficient of variation of the regular intervals
    beacon_tight_jitter: float = 0.10  # at or below: high severity (with 2x min connections)
    beacon_min_interval_s: float = 5.0  # faster repetition is a burst, not a beacon
    beacon_burst_s: float = 2.0  # starts closer than this to the previous one are one check-in
    beacon_min_regular_fraction: float = 0.75  # share of intervals within 0.5x..1.5x the median
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
        """Take every field that ``settings`` (a ``pcaptotal.settings.Settings``) also has."""
        known = {
            name: getattr(settings, name) for name in cls.model_fields if hasattr(settings, name)
        }
        return cls(**known)


def resolve(cfg: Any) -> DetectionConfig:
    """Accept a ``DetectionConfig``, a ``Settings`` (or any object with the same names), None."""
    if cfg is None:
        return DetectionConfig()
    if isinstance(cfg, DetectionConfig):
        return cfg
    return DetectionConfig.from_settings(cfg)
