"""The query language: Lucene syntax (as in Kibana / Elasticsearch ``query_string``).

``parse_query`` parses once with luqum and checks every field and value against
``pcaptotal.fields`` and the cost bounds of ``pcaptotal.query.limits``; index adapters compile
``ValidatedQuery.ir`` for their backend (``pcaptotal.query.tantivy_compiler`` for the embedded
index). ``QueryGuard`` runs parsing and searches off the event loop under time budgets.
"""

from pcaptotal.query.errors import QueryError, QueryTimeout
from pcaptotal.query.guard import QueryGuard
from pcaptotal.query.limits import QueryLimits
from pcaptotal.query.parse import ValidatedQuery, parse_query

__all__ = [
    "QueryError",
    "QueryGuard",
    "QueryLimits",
    "QueryTimeout",
    "ValidatedQuery",
    "parse_query",
]
