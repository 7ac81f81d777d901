"""The query language: Lucene syntax (as in Kibana / Elasticsearch ``query_string``).

``parse_query`` parses once with luqum and checks every field and value against
``pcaptotal.fields``; index adapters compile ``ValidatedQuery.ir`` for their backend
(``pcaptotal.query.tantivy_compiler`` for the embedded index). See ``parse`` for semantics.
"""

from pcaptotal.query.errors import QueryError
from pcaptotal.query.parse import ValidatedQuery, parse_query

__all__ = ["QueryError", "ValidatedQuery", "parse_query"]
