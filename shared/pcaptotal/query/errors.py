"""The one exception the query language raises."""

from __future__ import annotations


class QueryError(ValueError):
    """A query the user must fix; the message names the problem (and its position if known).

    Subclasses ``ValueError`` so callers that only know the standard library still catch it.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        super().__init__(message if position is None else f"{message} (at position {position})")
