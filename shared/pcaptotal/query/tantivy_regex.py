"""What tantivy says about a regex, and its complaints without their wrapping: for the query
parser, which checks regexes up front, and for the tantivy compiler."""

from __future__ import annotations

from functools import cache

import tantivy


def tantivy_reason(exc: Exception) -> str:
    """tantivy's complaint without its wrapping ("An invalid argument was passed: '…'")."""
    msg = str(exc).splitlines()[-1].strip(" '")
    for prefix in ("An invalid argument was passed: ", "'", "RegexQueryError: "):
        msg = msg.removeprefix(prefix)
    return msg or "invalid"


@cache
def _probe_schema() -> tantivy.Schema:
    return tantivy.SchemaBuilder().add_text_field("k", tokenizer_name="raw").build()


def regex_problem(pattern: str) -> str | None:
    """None if tantivy accepts the regex, else its complaint."""
    try:
        tantivy.Query.regex_query(_probe_schema(), "k", pattern)
    except ValueError as exc:
        return tantivy_reason(exc)
    return None
