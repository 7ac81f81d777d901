"""Turn query literals into typed values: ips and CIDRs, numbers, booleans, dates, wildcards."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from pcaptotal.query.ir import IPAddress

_ONE_US = timedelta(microseconds=1)


def unescape(raw: str) -> str:
    """Drop Lucene backslash escapes: ``a\\:b`` -> ``a:b``."""
    return re.sub(r"\\(.)", r"\1", raw, flags=re.S)


def wildcard_parts(raw: str) -> tuple[tuple[str, str], ...] | None:
    """Split a raw (still escaped) word into literal and ``*``/``?`` parts; None if no wildcard."""
    parts: list[tuple[str, str]] = []
    lit: list[str] = []
    wild = False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            lit.append(raw[i + 1])
            i += 2
            continue
        if c in "*?":
            wild = True
            if lit:
                parts.append(("lit", "".join(lit)))
                lit = []
            if not (c == "*" and parts and parts[-1][0] == "*"):  # ``**`` is ``*``
                parts.append((c, ""))
        else:
            lit.append(c)
        i += 1
    if lit:
        parts.append(("lit", "".join(lit)))
    return tuple(parts) if wild else None


def parse_ip(text: str) -> IPAddress:
    return ip_address(text)


def parse_ip_or_cidr(text: str) -> IPAddress | IPv4Network | IPv6Network:
    """An address, or a network in CIDR notation (host bits allowed, as Elasticsearch does)."""
    if "/" in text:
        return ip_network(text, strict=False)
    return ip_address(text)


def parse_long(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(text)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    raise ValueError(text)


# ---------------------------------------------------------------------------------------------
# dates

_ISO = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[Tt ](?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


def _add_months(value: datetime, months: int) -> datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    # clamp the day to the target month's length
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=value.tzinfo)
    last_day = (nxt - timedelta(days=1)).day
    return value.replace(year=year, month=month, day=min(value.day, last_day))


def _shift(value: datetime, amount: int, unit: str) -> datetime:
    if unit == "y":
        return _add_months(value, 12 * amount)
    if unit == "M":
        return _add_months(value, amount)
    seconds = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    return value + timedelta(seconds=seconds * amount)


def _round_down(value: datetime, unit: str) -> datetime:
    if unit == "y":
        return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":  # ISO weeks start on Monday
        day = value.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    if unit == "d":
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in "hH":
        return value.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return value.replace(second=0, microsecond=0)
    return value.replace(microsecond=0)


def _parse_iso(text: str) -> tuple[datetime, datetime]:
    m = _ISO.fullmatch(text)
    if not m:
        raise ValueError(text)
    g = m.groupdict()
    tz = UTC
    if g["tz"] and g["tz"] not in "Zz":
        sign = -1 if g["tz"][0] == "-" else 1
        digits = g["tz"][1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if offset >= timedelta(hours=24):
            raise ValueError(text)
        tz = timezone(sign * offset)
    frac = g["f"] or ""
    start = datetime(
        int(g["y"]),
        int(g["mo"] or 1),
        int(g["d"] or 1),
        int(g["h"] or 0),
        int(g["mi"] or 0),
        int(g["s"] or 0),
        int((frac + "000000")[:6]),
        tzinfo=tz,
    ).astimezone(UTC)
    # The value names an interval as wide as its precision (ES rounds the same way).
    if frac:
        end = start + timedelta(microseconds=10 ** max(0, 6 - len(frac)))
    elif g["s"]:
        end = start + timedelta(seconds=1)
    elif g["mi"]:
        end = start + timedelta(minutes=1)
    elif g["h"]:
        end = start + timedelta(hours=1)
    elif g["d"]:
        end = start + timedelta(days=1)
    elif g["mo"]:
        end = _add_months(start, 1)
    else:
        end = _add_months(start, 12)
    return start, end - _ONE_US


def parse_date(text: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Parse a date literal into the inclusive UTC interval ``[first, last]`` it names.

    Accepts ISO-8601 dates and datetimes (naive = UTC), epoch milliseconds, and Elasticsearch
    date math: ``now``, ``now-1d``, ``now-1d/d``, ``2009-11-18||+1M``. ``2009-11-18`` names the
    whole day, so ``event.start:2009-11-18`` matches that day and ``<=2009-11-18`` includes it.
    """
    if "||" in text:
        anchor_text, math_text = text.split("||", 1)
        anchor, last = _parse_iso(anchor_text)
        span = last - anchor
    elif text.startswith("now"):
        anchor, math_text, span = (now or datetime.now(UTC)), text[3:], timedelta(0)
    elif re.fullmatch(r"\d{5,}", text):  # epoch millis (four digits are a year)
        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text))
        return start, start + timedelta(milliseconds=1) - _ONE_US
    else:
        return _parse_iso(text)
    value = anchor
    pos = 0
    rounded: str | None = None
    for m in _MATH.finditer(math_text):
        if m.start() != pos or rounded is not None:
            raise ValueError(text)
        pos = m.end()
        if m.group(4):
            rounded = m.group(4)
        else:
            amount = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
            value = _shift(value, amount, m.group(3))
    if pos != len(math_text):
        raise ValueError(text)
    if rounded is not None:
        first = _round_down(value, rounded)
        return first, _shift(first, 1, rounded) - _ONE_US
    return value, value + span
