"""Configuration from the environment (prefix ``PCAPTOTAL_``), built in main()/lifespan only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pcaptotal.cpu import usable_cpus

MIB = 1024 * 1024


class Settings(BaseSettings):
    # PCAPTOTAL_SECRETS_DIR: a directory of files named like the variables (a mounted
    # Kubernetes Secret: PCAPTOTAL_BUS_URL, PCAPTOTAL_INDEX_PASSWORD, ...); environment
    # variables win over files.
    model_config = SettingsConfigDict(
        env_prefix="PCAPTOTAL_",
        extra="ignore",
        secrets_dir=os.environ.get("PCAPTOTAL_SECRETS_DIR") or None,
    )

    data_dir: Path = Field(
        default=Path("./data"), description="where the embedded default keeps data"
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    bus_url: str = Field(default="memory://", description="amqp://... or memory://")
    bus_exchange: str = Field(default="pcaptotal.events", description="AMQP topic exchange")
    bus_queue_prefix: str = Field(default="", description="prefix of worker queue names")
    blob_url: str = Field(
        default="", description="s3://... or file:///...; default <data_dir>/blobs"
    )
    index_url: str = Field(
        default="", description="http(s)://... or tantivy:///...; default <data_dir>/index"
    )
    # Elasticsearch/OpenSearch credentials, from Secrets (never in the URL in Kubernetes).
    index_username: str = Field(default="", description="Elasticsearch/OpenSearch user")
    index_password: SecretStr = Field(
        default=SecretStr(""), description="Elasticsearch/OpenSearch password"
    )
    index_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the index's TLS certificate"
    )
    max_upload_bytes: int = Field(
        default=512 * MIB, description="largest accepted capture (decompressed)"
    )
    parse_timeout_s: float = Field(
        default=900.0, description="wall-clock limit for one capture's parse"
    )
    tshark_path: str = "tshark"
    tshark_memory_limit_mb: int = Field(default=4096, description="address-space limit per tshark")
    tshark_sandbox_user: str = Field(
        default="nobody",
        description="user[:group] tshark runs as when the parser runs as root (never root)",
    )
    # Memory: one parser process runs up to parser_prefetch x N tshark processes at once, where
    # N = max(parser_workers, parts of the largest upload at parser_part_max_mb each) (a split
    # capture has one tshark per part), each capped at tshark_memory_limit_mb of address space
    # (resident memory stays below it), plus one parse process per capture (~350 MB resident
    # for a 200 MB flow-heavy capture; stopped past parser_memory_limit_mb). Keep
    # parser_prefetch x (N x tshark_memory_limit_mb + that) under the pod's memory limit, or
    # lower the limits to fit a smaller pod.
    parser_workers: int = Field(
        default_factory=usable_cpus,
        description="tshark processes one capture is decoded by at once "
        "(default: the CPUs the cgroup quota and affinity allow)",
    )
    parser_prefetch: int = Field(
        default=1, ge=1, description="captures one parser process works on at once"
    )
    parser_split_min_mb: int = Field(
        default=32, description="captures from this size on are split by host pair"
    )
    parser_part_max_mb: int = Field(
        default=256, description="largest part of a split capture (bounds tshark's memory)"
    )
    parser_prefilter: bool = Field(
        default=True,
        description="a split capture's sealed TLS/SSH segments, ARP and STP "
        "frames are counted from their headers instead of being decoded by tshark",
    )
    # A parse in a child process hands its memory back when it exits (a long-lived process
    # keeps CPython arenas pinned by a few survivors of each capture) and cannot take the
    # worker's memory: the child is killed past parser_memory_limit_mb resident.
    parser_isolate_min_mb: int = Field(
        default=4,
        description="captures from this size on are parsed in a child process of their own "
        "(0: every capture; -1: none, all in the worker's process)",
    )
    parser_memory_limit_mb: int = Field(
        default=4096,
        ge=0,
        description="resident memory past which that child process is stopped and its "
        "capture fails (its tshark processes have their own limit, "
        "PCAPTOTAL_TSHARK_MEMORY_LIMIT_MB); 0: none",
    )
    # The enricher's analysis (heuristics and verdicts over a whole capture's flows) likewise:
    # the worker streams the records through the intel step to a file, the child holds the
    # flows, and the worker indexes and publishes what it writes, a batch at a time.
    enricher_isolate_min_flows: int = Field(
        default=2000,
        description="captures with this many flows or more are analysed in a child process "
        "of their own (0: every capture; -1: none, all in the worker's process)",
    )
    enricher_memory_limit_mb: int = Field(
        default=4096,
        ge=0,
        description="resident memory past which that child process is stopped and its "
        "capture fails; 0: none",
    )
    bus_queue_max_length: int = Field(
        default=0,
        ge=0,
        description="messages a work queue holds before the broker refuses publishes "
        "(x-max-length, x-overflow reject-publish); refused uploads wait in the outbox. "
        "0: no limit. Set when a queue is first declared (or use a RabbitMQ policy)",
    )
    max_delivery_attempts: int = Field(
        default=3, description="tries before a message is dead-lettered"
    )
    intel_dir: Path | None = Field(
        default=None, description="threat-intel feed directory; default <data_dir>/intel"
    )
    intel_poll_interval_s: float = Field(
        default=5.0, description="how often the feed directory is checked for changes"
    )
    intel_max_feed_mb: int = Field(
        default=256, description="largest threat-intel feed file (upload or in the directory)"
    )
    intel_max_json_mb: int = Field(
        default=16, description="largest JSON feed (decoded whole: ~4x this in memory)"
    )
    intel_max_line_chars: int = Field(
        default=65536, description="longest line of a text feed; longer lines are malformed"
    )
    intel_max_json_depth: int = Field(
        default=64, description="deepest nesting of a JSON feed; deeper feeds are rejected"
    )
    # --- heuristics and verdicts (pcaptotal_enricher.verdict / .heuristics.config) ---
    verdict_suspicious_score: float = Field(
        default=30.0, description="risk score (0-100) from which a flow/capture is suspicious"
    )
    verdict_malicious_score: float = Field(
        default=70.0, description="risk score (0-100) from which a flow/capture is malicious"
    )
    verdict_malicious_min_confidence: Literal["High", "Medium"] = Field(
        default="High", description="weakest feed-hit confidence that alone means malicious"
    )
    beacon_min_connections: int = Field(
        default=6, description="check-ins to one destination:port needed to call it beaconing"
    )
    beacon_max_jitter: float = Field(
        default=0.5,
        description="largest spread of beacon intervals (median absolute deviation / median)",
    )
    beacon_min_score: float = Field(
        default=0.8, description="RITA-style beacon score (0-1) from which a pair is beaconing"
    )
    correlation_min_findings: int = Field(
        default=3, description="distinct findings on one destination that add up to suspicious"
    )
    scan_min_ports: int = Field(default=15, description="distinct ports on one host = port scan")
    sweep_min_hosts: int = Field(default=15, description="distinct hosts on one port = host sweep")
    long_connection_s: float = Field(
        default=3600.0, description="TCP connection to a public address longer than this is long"
    )
    large_outbound_bytes: int = Field(
        default=50_000_000, description="bytes sent in one flow that count as a large upload"
    )
    detection_overrides: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="any other heuristics threshold by name (JSON object; see "
        "pcaptotal_enricher.heuristics.config.DetectionConfig)",
    )
    # --- reliability (pcaptotal.resilience, pcaptotal.reconcile, pcaptotal.outbox) ---
    worker_retry_s: float = Field(
        default=300.0,
        description="how long a worker retries a transient blob-store/index error "
        "(exponential backoff with jitter) before the attempt counts as failed",
    )
    request_retry_s: float = Field(
        default=5.0,
        description="how long an HTTP request retries a transient error before answering 503",
    )
    publish_timeout_s: float = Field(
        default=5.0,
        description="how long an upload waits for the bus; after that the capture is "
        "accepted and its event is published from the outbox once the bus is back",
    )
    reconcile_interval_s: float = Field(
        default=10.0, description="how often stuck captures and the outbox are checked"
    )
    retention_days: int = Field(
        default=0,
        ge=0,
        description="delete finished captures created more than this many days ago, with "
        "their records, blobs and unshared carved files (0: keep forever)",
    )
    retention_interval_s: float = Field(
        default=3600.0, gt=0, description="how often the reconciler looks for expired captures"
    )
    outbox_grace_s: float = Field(
        default=10.0, description="age of an outbox entry before the relay publishes it"
    )
    stuck_stored_s: float = Field(
        default=3600.0,
        description="a capture queued (stored) this long without a parser taking it is "
        "re-driven; long enough for a deep backlog",
    )
    stuck_parsing_margin_s: float = Field(
        default=300.0, description="parsing longer than parse_timeout_s plus this is stuck"
    )
    stuck_enriching_s: float = Field(
        default=1800.0, description="enriching longer than this is stuck"
    )
    max_redrives: int = Field(
        default=3,
        description="times a stuck or interrupted capture is re-driven before it fails",
    )
    # --- archives (curated members, archive bundles) ---
    archive_max_captures: int = Field(
        default=10_000, ge=1, le=10_000, description="captures one curated archive may hold"
    )
    archive_bundle_max_captures: int = Field(
        default=200,
        ge=1,
        description="captures GET /v1/archives/{name}/bundle.zip packs (more: 413)",
    )
    archive_bundle_max_bytes: int = Field(
        default=4 * 1024**3,
        ge=1,
        description="capture bytes an archive bundle packs, before compression (more: 413)",
    )
    # --- query cost bounds (pcaptotal.query.limits, pcaptotal.query.guard) ---
    query_max_length: int = Field(default=8192, ge=1, description="characters of query text")
    query_max_depth: int = Field(
        default=20,
        ge=1,
        le=200,
        description="nested parentheses and NOT/-/+ in a query (Elasticsearch's bool "
        "nesting limit is 20 in 7.x, 30 in 8.x)",
    )
    query_max_terms: int = Field(default=1024, ge=1, description="terms in one query")
    query_max_pattern_clauses: int = Field(
        default=256,
        ge=1,
        description="fuzzy/wildcard/regex clauses in one query; a term without a field "
        "counts once per keyword field",
    )
    query_max_pattern_length: int = Field(
        default=256, ge=1, description="characters of one wildcard or regex term"
    )
    query_max_wildcards: int = Field(default=8, ge=1, description="* and ? in one wildcard term")
    query_max_fuzzy_length: int = Field(
        default=64, ge=1, description="characters of one fuzzy (term~N) term"
    )
    query_parse_timeout_s: float = Field(
        default=5.0, gt=0, description="time budget for parsing a query (else 503)"
    )
    search_timeout_s: float = Field(
        default=30.0, gt=0, description="time budget for one search, queueing included (else 503)"
    )
    search_max_concurrent: int = Field(
        default=2, ge=1, description="searches run at once per process; others wait their turn"
    )
    # --- access control (pcaptotal.access) ---
    auth: Literal["on", "off"] = Field(
        default="on",
        description="API keys (x-api-key) and roles; off only for local experiments "
        "(refused unless http_host is loopback)",
    )
    auth_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC key API keys are hashed with; default: generated into "
        "<data_dir>/auth/secret (0600). Set the same value on every service of a cluster",
    )
    bootstrap_admin_key: SecretStr = Field(
        default=SecretStr(""),
        description="at first start (no keys stored yet) this becomes the admin key",
    )
    rate_limit_per_minute: int = Field(
        default=0,
        ge=0,
        description="requests a minute per API key and process (bursts up to as many); "
        "over it: 429 with Retry-After. 0: no limit",
    )
    trusted_hosts: str = Field(
        default="",
        description="Host header values answered, comma-separated: names, '*.domain' or '*' "
        "(others: 400). Default: localhost, 127.0.0.1, ::1 when http_host is loopback, else *",
    )
    upload_quota_per_day: int = Field(
        default=0,
        ge=0,
        description="uploads a day (UTC) per API key, over every service; over it: 429 with "
        "Retry-After (the next UTC midnight). 0: no limit",
    )
    upload_quota_bytes_per_day: int = Field(
        default=0,
        ge=0,
        description="capture bytes (decompressed) a day (UTC) per API key; 0: no limit",
    )
    upload_quota_admin_exempt: bool = Field(
        default=True, description="admin keys are not held to the upload quotas"
    )
    log_level: str = "INFO"

    def resolved_blob_url(self) -> str:
        return self.blob_url or (self.data_dir.resolve() / "blobs").as_uri()

    def resolved_index_url(self) -> str:
        return self.index_url or "tantivy://" + str(self.data_dir.resolve() / "index")

    @property
    def resolved_intel_dir(self) -> Path:
        return (self.intel_dir or self.data_dir / "intel").resolve()

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir.resolve() / "tmp"
