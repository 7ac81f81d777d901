"""The exceptions the query language raises, and how they quote user input."""

from __future__ import annotations

# Error messages quote at most this much of the user's input (issue 7: no echoing of
# multi-kilobyte queries back at the client or into logs).
EXCERPT_CHARS = 40
MAX_MESSAGE_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` if short, else its first ``limit`` characters, an ellipsis and the full length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class QueryError(ValueError):
    """A query the user must fix; the message names the problem (and its position if known).

    Subclasses ``ValueError`` so callers that only know the standard library still catch it.
    Messages are capped in length so no path can echo a huge input back.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        message = excerpt(message, MAX_MESSAGE_CHARS)
        super().__init__(message if position is None else f"{message} (at position {position})")


class QueryTimeout(Exception):
    """Parsing or running a query did not finish within its time budget (the server is busy,
    or the query is too expensive); the message says which budget and how long it is."""
