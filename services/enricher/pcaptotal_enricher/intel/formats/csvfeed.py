"""Header-addressed CSV feeds whose header line may be a ``#`` comment (abuse.ch style)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator

from pcaptotal_enricher.intel.formats.base import FeedContext, header_cells, parse_csv_line
from pcaptotal_enricher.intel.model import Indicator

# A row builder returns the indicators of one record, or the reason the record is malformed.
RowBuilder = Callable[[dict[str, str], FeedContext], "list[Indicator] | str"]


def parse_csv_feed(
    lines: Iterable[str],
    feed: FeedContext,
    required: tuple[str, ...],
    build: RowBuilder,
) -> Iterator[Indicator]:
    """Find the header (the first line, commented or not, naming one of ``required`` — with
    aliases separated by ``|``), then hand each record to ``build`` as a column → value dict.

    ``#`` lines after the header are banners/footers (ThreatFox's "# Number of entries").
    """
    header: list[str] | None = None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if header is None:
            cells = header_cells(text)
            if all(any(alias in cells for alias in need.split("|")) for need in required):
                header = cells
            elif not text.startswith("#"):
                feed.stats.bad(number, "record before the header line")
            continue
        if text.startswith("#"):
            continue
        try:
            row = parse_csv_line(text)
        except csv.Error as exc:
            feed.stats.bad(number, f"CSV: {exc}")
            continue
        if len(row) != len(header):
            feed.stats.bad(number, f"expected {len(header)} columns, got {len(row)}")
            continue
        result = build(dict(zip(header, row, strict=True)), feed)
        if isinstance(result, str):
            feed.stats.bad(number, result)
        else:
            yield from result
    if header is None:
        feed.stats.error = f"no header line naming {', '.join(required)}"


def first(row: dict[str, str], *names: str) -> str:
    """The value of the first present column among aliases (exports renamed columns)."""
    for name in names:
        if name in row:
            return row[name].strip()
    return ""
