"""The one spelling of "now" in documents and events: RFC 3339, UTC, ending in ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(value: datetime) -> str:
    """``value`` (naive means UTC) as RFC 3339 in UTC with a ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    return rfc3339(datetime.now(UTC))
