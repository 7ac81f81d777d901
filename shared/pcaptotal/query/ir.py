"""Backend-neutral form of a validated query: typed values, no luqum, no syntax sugar.

Each backend compiler (tantivy today, Elasticsearch later) only has to translate these few
node kinds; all parsing of ips, dates, numbers and wildcards already happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from pcaptotal.fields import Field

IPAddress = IPv4Address | IPv6Address
TermValue = str | int | float | bool | IPAddress
RangeValue = int | float | datetime | IPAddress


@dataclass(frozen=True, slots=True)
class MatchAll:
    pass


@dataclass(frozen=True, slots=True)
class MatchNone:
    pass


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Term:
    """Exact value: keyword (case-sensitive), long, float, bool or one ip address."""

    field: Field
    value: TermValue


@dataclass(frozen=True, slots=True)
class Range:
    """long/float/date/ip range; ``None`` is an open bound. Dates are UTC datetimes (µs)."""

    field: Field
    low: RangeValue | None
    high: RangeValue | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True, slots=True)
class Wildcard:
    """Keyword wildcard. ``parts`` alternates literal text and the tokens ``*`` / ``?``.

    Literal parts are stored as ``("lit", text)`` and wildcards as ``("*", "")`` / ``("?", "")``
    so a literal star can never be confused with a wildcard.
    """

    field: Field
    parts: tuple[tuple[str, str], ...]

    def to_regex(self) -> str:
        """Rust-regex (tantivy) form: anchored full match, literal parts escaped."""
        out = ["(?s)"]  # ``?`` and ``*`` also match newlines, as in Lucene
        for kind, text in self.parts:
            out.append(".*" if kind == "*" else "." if kind == "?" else escape_regex(text))
        return "".join(out)

    def to_lucene(self) -> str:
        """Lucene/Elasticsearch ``wildcard`` form, literal ``*?\\`` escaped."""
        out = []
        for kind, text in self.parts:
            if kind == "lit":
                out.append("".join("\\" + c if c in "*?\\" else c for c in text))
            else:
                out.append(kind)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Regexp:
    field: Field
    pattern: str


@dataclass(frozen=True, slots=True)
class Fuzzy:
    field: Field
    value: str
    distance: int


@dataclass(frozen=True, slots=True)
class Exists:
    field: Field


@dataclass(frozen=True, slots=True)
class TextMatch:
    """Analyzed ``text`` field: all words (``phrase``: in this order, adjacent)."""

    field: Field
    text: str
    phrase: bool


Node = (
    MatchAll
    | MatchNone
    | And
    | Or
    | Not
    | Term
    | Range
    | Wildcard
    | Regexp
    | Fuzzy
    | Exists
    | TextMatch
)

# The characters Rust's regex-syntax treats as meta (``regex_syntax::is_meta_character``).
_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")


def escape_regex(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)
