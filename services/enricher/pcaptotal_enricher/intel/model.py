"""What a feed yields: indicators, their shared metadata, and the per-feed load report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class IndicatorType(StrEnum):
    """Indicator kinds; also the values of ``threat.enrichments.indicator.type`` on a matched flow.

    IP types follow STIX (``ipv4-addr`` covers a CIDR too); hash kinds are split because a
    32-hex value means different things for a file, a TLS client and a TLS server.
    """

    # Hash as the str it is: Enum's own __hash__ runs Python code, and these are dict keys on
    # the load path a million times over. Equal to its plain-str value, so hashes must agree.
    __hash__ = str.__hash__

    IPV4 = "ipv4-addr"
    IPV6 = "ipv6-addr"
    DOMAIN = "domain-name"
    URL = "url"
    MD5 = "file-md5"
    SHA1 = "file-sha1"
    SHA256 = "file-sha256"
    X509_SHA1 = "x509-sha1"
    JA3 = "ja3"
    JA3S = "ja3s"
    USER_AGENT = "user-agent"


class Kind:
    """``IndicatorType`` members as plain class attributes, for per-line code: reading
    ``IndicatorType.URL`` goes through the enum metaclass (~100 ns), this is ~20 ns."""

    IPV4 = IndicatorType.IPV4
    IPV6 = IndicatorType.IPV6
    DOMAIN = IndicatorType.DOMAIN
    URL = IndicatorType.URL
    MD5 = IndicatorType.MD5
    SHA1 = IndicatorType.SHA1
    SHA256 = IndicatorType.SHA256
    X509_SHA1 = IndicatorType.X509_SHA1
    JA3 = IndicatorType.JA3
    JA3S = IndicatorType.JA3S
    USER_AGENT = IndicatorType.USER_AGENT


class Confidence(StrEnum):
    __hash__ = str.__hash__

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


def confidence_from_score(score: object, default: Confidence = Confidence.MEDIUM) -> Confidence:
    """Map a 0-100 score (STIX, ThreatFox) onto the STIX 'None/Low/Med/High' scale.

    STIX 2.1 appendix A: 1-29 Low, 30-69 Med, 70-100 High; 0 ("None") is treated as Low here
    because the publisher still listed the indicator.
    """
    try:
        value = int(str(score).strip())
    except (TypeError, ValueError):
        return default
    if value >= 70:
        return Confidence.HIGH
    if value >= 30:
        return Confidence.MEDIUM
    return Confidence.LOW


@dataclass(frozen=True, slots=True)
class IndicatorMeta:
    """Everything about an indicator except its value.

    Interned by the IndicatorSet: a feed of a million IPs with one family shares one object,
    which is what keeps a million indicators well under the memory budget.
    """

    type: IndicatorType
    feed: str
    family: str | None = None
    tags: tuple[str, ...] = ()
    confidence: Confidence = Confidence.MEDIUM


# The indicators that share one value (several feeds may list it), as the set stores them.
Group = tuple[IndicatorMeta, ...]


@dataclass(frozen=True, slots=True)
class Indicator:
    value: str  # normalised (see normalize.py)
    meta: IndicatorMeta

    @property
    def type(self) -> IndicatorType:
        return self.meta.type


MAX_REPORTED_ERRORS = 10
MAX_SKIP_REASONS = 20  # distinct reasons kept; a hostile feed could invent millions
MAX_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class LineError:
    line: int  # 1-based line number, or item index for JSON feeds
    reason: str


@dataclass(slots=True)
class FeedStats:
    """The load report of one feed: what was taken, what was refused and why."""

    name: str
    format: str = "unknown"
    indicators: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    errors: list[LineError] = field(default_factory=list)  # the first few malformed lines
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    error: str | None = None  # the whole feed could not be read (e.g. invalid JSON)

    def bad(self, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(LineError(line, reason[:MAX_REASON_CHARS]))

    def skip(self, reason: str, count: int = 1) -> None:
        reason = reason[:MAX_REASON_CHARS]
        if reason not in self.skipped and len(self.skipped) >= MAX_SKIP_REASONS:
            reason = "other reasons"
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def took(self, indicator_type: IndicatorType) -> None:
        self.indicators += 1
        self.by_type[indicator_type] = self.by_type.get(indicator_type, 0) + 1
