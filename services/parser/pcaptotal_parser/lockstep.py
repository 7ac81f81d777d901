"""A part's tshark rows and its prefilter side channel, added to the flow builder in frame
order (``prefilter`` says what the side channel holds and why it is always on disk in time)."""

from __future__ import annotations

from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.prefilter import BIND, SideReader, SideRecord


class Lockstep:
    """``feed`` takes tshark's lines as they come; ``finish`` adds what follows the last row."""

    def __init__(self, builder: FlowBuilder, side: SideReader) -> None:
        self._builder = builder
        self._side = side
        self.rows = 0  # rows added so far

    def feed(self, lines: list[str]) -> None:
        builder, side = self._builder, self._side
        start, end = 0, len(lines)
        while True:
            pos = side.next_pos()
            if pos is None or pos > self.rows + end - start:
                break
            upto = start + pos - self.rows  # the record goes after lines[upto - 1]
            record = side.pop()
            # A bind reads the row before it, which goes through the path that remembers its
            # flow. That row is always in the same batch (the splitter writes a bind before its
            # row reaches tshark); were it not, the epoch's packets count in the totals only.
            anchored = record.kind == BIND and upto > start
            if anchored:
                builder.add_lines(lines[start : upto - 1])
                builder.add_anchor_line(lines[upto - 1])
            elif upto > start:
                builder.add_lines(lines[start:upto])
            self.rows += upto - start
            start = upto
            self._apply(record, anchored)
        builder.add_lines(lines[start:end])
        self.rows += end - start

    def finish(self) -> None:
        """The records after the last row (call once the splitter has exited)."""
        while self._side.next_pos() is not None:
            self._apply(self._side.pop(), anchored=False)

    def _apply(self, record: SideRecord, anchored: bool) -> None:
        if record.kind == BIND:
            if anchored:
                self._builder.bind(record.epoch, record.direction, record.frame_len)
        else:
            self._builder.add_withheld(record)
