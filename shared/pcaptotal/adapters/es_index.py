"""The production Index: Elasticsearch (or OpenSearch) through ``elasticsearch[async]``.

Two indices, ``<prefix>-flows`` and ``<prefix>-captures`` (mappings in ``es_mapping``).

Requests go through ``es_transport`` (plain JSON media types, retries, timeouts).

Only core APIs are used (index/bulk/get/search/delete_by_query/refresh/mapping): no
point-in-time or other Elasticsearch-only calls, so OpenSearch and osmem-server work the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from elasticsearch import AsyncElasticsearch

from pcaptotal.adapters import record_formats
from pcaptotal.adapters.es_bulk import as_json, bulk_bodies
from pcaptotal.adapters.es_captures import EsCaptures
from pcaptotal.adapters.es_mapping import (
    DEFAULT_PREFIX,
    ID,
    MAX_RESULT_WINDOW,
    capture_index_body,
    flow_index_body,
    hit_document,
    index_names,
)
from pcaptotal.adapters.es_transport import (
    Requests,
    error_type,
    quote_id,
    raise_bulk_errors,
    reason,
)
from pcaptotal.ports import SearchResult
from pcaptotal.prepared import PreparedRecord
from pcaptotal.query import QueryError, ValidatedQuery
from pcaptotal.query.es_compiler import compile_query
from pcaptotal.views import (
    MAX_BUCKETS,
    Agg,
    Aggregations,
    Page,
    TermsAgg,
    agg_request,
    ask_short_tops,
    check_top,
    decode_cursor,
    encode_cursor,
    finish_aggs,
    parse_sort,
    recounted,
)

SORT_FIELD = "@timestamp"  # hits come back oldest first, ties by event.id (as in tantivy)
CAPTURE_FIELD = "pcaptotal.capture_id"
DATASET_FIELD = "event.dataset"
_FLOW_SORT = [{SORT_FIELD: {"order": "asc", "missing": "_last"}}, {ID: {"order": "asc"}}]


class ElasticsearchIndex(EsCaptures):
    """The ``Index`` port on Elasticsearch / OpenSearch.

    ``url`` is ``http(s)://[user:pass@]host:port[/path][?prefix=NAME]``; ``prefix`` (default
    ``pcaptotal``) names the indices. ``client_options`` go to ``AsyncElasticsearch`` as they
    are (``ca_certs``, ``verify_certs``, ``api_key``-less TLS setups, ...).
    """

    record_format: str = record_formats.PLAIN

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        request_timeout: float = 30.0,
        bulk_timeout: float = 120.0,
        max_retries: int = 3,
        bulk_docs: int = 1000,
        bulk_bytes: int = 5_000_000,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Elasticsearch URL must be http(s)://host:port, got {url!r}")
        query = parse_qs(parts.query)
        self._host = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.prefix = prefix or query.get("prefix", [DEFAULT_PREFIX])[0]
        self.flows_index, self.captures_index = index_names(self.prefix)
        self._timeout = request_timeout
        self._bulk_timeout = bulk_timeout
        self._max_retries = max_retries
        self._bulk_docs = max(1, bulk_docs)
        self._bulk_bytes = max(1, bulk_bytes)
        self._client_options = dict(client_options or {})
        self._client: AsyncElasticsearch | None = None
        self._call = Requests(self._require, request_timeout, max_retries)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is not None:
            return
        self._connect()
        try:
            await self._ensure_index(self.flows_index, flow_index_body())
            await self._ensure_index(self.captures_index, capture_index_body())
        except BaseException:
            await self.close()
            raise

    def _connect(self) -> AsyncElasticsearch:
        if self._client is None:
            self._client = AsyncElasticsearch(
                hosts=[self._host],  # user:pass in the URL becomes the node's auth header
                request_timeout=self._timeout,
                max_retries=self._max_retries,
                retry_on_timeout=True,
                **self._client_options,
            )
        return self._client

    async def _ensure_index(self, name: str, body: dict[str, Any]) -> None:
        """Create the index, or add newly declared fields to it; safe when workers race."""
        status, resp = await self._call("PUT", f"/{name}", body=body, ok=(400,))
        if status == 400:
            if error_type(resp) != "resource_already_exists_exception":
                raise RuntimeError(f"cannot create index {name}: {reason(resp)}")
            status, resp = await self._call(
                "PUT", f"/{name}/_mapping", body=body["mappings"], ok=(400,)
            )
            if status == 400:
                raise RuntimeError(
                    f"index {name} has a mapping that conflicts with the field schema "
                    f"({reason(resp)}); re-index into a new prefix"
                )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            await self._call("GET", "/", retries=0)
        except Exception:
            return False
        return True

    async def delete_indices(self) -> None:
        """Drop both indices (tests and tooling; not part of the port)."""
        opened = self._client is None
        self._connect()
        try:
            for name in (self.flows_index, self.captures_index):
                await self._call("DELETE", f"/{name}", ok=(404,))
        finally:
            if opened:
                await self.close()

    # -- flows ----------------------------------------------------------------------------------

    async def add_flows(self, docs: Sequence[dict[str, Any]]) -> None:
        self._require()
        if not docs:
            return
        # Check every document first (all-or-nothing for bad values, as in tantivy); the last
        # of several with one _id wins, as a sequential upsert would have it. CPU work (~15 us
        # a record): off the event loop.
        chunks = await asyncio.to_thread(bulk_bodies, docs, self._bulk_docs, self._bulk_bytes)
        for i, chunk in enumerate(chunks):
            # One chunk: wait for the periodic refresh; several: one explicit refresh at the end.
            params = {"refresh": "wait_for"} if len(chunks) == 1 else None
            _, resp = await self._call(
                "POST",
                f"/{self.flows_index}/_bulk",
                body=chunk,
                ndjson=True,
                params=params,
                seconds=self._bulk_timeout,
            )
            if resp.get("errors"):
                raise_bulk_errors(resp, done=i)
        if len(chunks) > 1:
            await self._call("POST", f"/{self.flows_index}/_refresh")

    async def add_prepared(self, records: Sequence[PreparedRecord]) -> None:
        # the bulk bodies are built from the records as they are (record_formats.PLAIN)
        # decoded off the event loop (~20 us a record)
        docs = await asyncio.to_thread(lambda: [rec.doc() for rec in records])
        await self.add_flows(docs)

    async def delete_flows(self, capture_id: str) -> None:
        body = {"query": {"term": {CAPTURE_FIELD: capture_id}}}
        params = {"refresh": "true", "conflicts": "proceed"}
        _, resp = await self._call(
            "POST",
            f"/{self.flows_index}/_delete_by_query",
            body=body,
            params=params,
            seconds=self._bulk_timeout,
        )
        if resp.get("failures"):
            raise RuntimeError(f"deleting flows of {capture_id}: {resp['failures'][:3]}")

    async def get_flow(self, doc_id: str) -> dict[str, Any] | None:
        source = await self._get(self.flows_index, doc_id)
        return None if source is None else hit_document(doc_id, source)

    async def search_flows(
        self,
        query: ValidatedQuery,
        *,
        capture_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        datasets: Sequence[str] | None = None,
        raw: bool = False,
    ) -> SearchResult:
        compiled = await self._restricted(query, capture_id, datasets)
        limit, offset = max(limit, 0), max(offset, 0)
        if limit and offset + limit > MAX_RESULT_WINDOW:
            raise QueryError(
                f"cannot page past the first {MAX_RESULT_WINDOW} hits; narrow the query"
            )
        body: dict[str, Any] = {"query": compiled, "track_total_hits": True, "size": limit}
        if limit:
            body.update({"from": offset, "sort": _FLOW_SORT})
        hits = (await self._run(body))["hits"]
        total, page = int(hits["total"]["value"]), hits["hits"]
        cursor = None
        if page and total > offset + len(page):  # search_page's cursor after the last hit
            cursor = encode_cursor(page[-1]["sort"][0], str(page[-1]["sort"][1]))
        docs = [hit_document(h["_id"], h["_source"]) for h in page]
        if raw:
            return SearchResult(total=total, hits=[], cursor=cursor, raw=as_json(docs))
        return SearchResult(total=total, hits=docs, cursor=cursor)

    async def _restricted(
        self,
        query: ValidatedQuery,
        capture_id: str | None,
        datasets: Sequence[str] | None,
        capture_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        # QueryError surfaces before any I/O; compiling is CPU-bound, so off the event loop
        compiled = await asyncio.to_thread(compile_query, query)
        filters: list[dict[str, Any]] = [compiled]
        if capture_id is not None:
            filters.append({"term": {CAPTURE_FIELD: capture_id}})
        if capture_ids is not None:
            filters.append({"terms": {CAPTURE_FIELD: list(capture_ids)}})
        if datasets is not None:
            filters.append({"terms": {DATASET_FIELD: list(datasets)}})
        return {"bool": {"filter": filters}} if len(filters) > 1 else compiled

    async def _run(self, body: dict[str, Any]) -> dict[str, Any]:
        status, resp = await self._call(
            "POST", f"/{self.flows_index}/_search", body=body, ok=(400,)
        )
        if status == 400:  # e.g. a regex too complex for Lucene
            raise QueryError(f"cannot run query: {reason(resp)}")
        result: dict[str, Any] = resp
        return result

    async def search_page(
        self,
        query: ValidatedQuery,
        *,
        capture_id: str | None = None,
        datasets: Sequence[str] | None = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        f, descending = parse_sort(sort)
        order = "desc" if descending else "asc"
        limit = max(limit, 0)
        # one past the page tells whether a next page has any hit (unless at ES's window)
        fetch = limit + 1 if 0 < limit < MAX_RESULT_WINDOW else limit
        body: dict[str, Any] = {
            "query": await self._restricted(query, capture_id, datasets),
            "track_total_hits": True,
            "size": fetch,
            "sort": [{f.name: {"order": order, "missing": "_last"}}, {ID: {"order": "asc"}}],
        }
        if cursor is not None:
            value, last = decode_cursor(cursor)
            body["search_after"] = [value, last]
        resp = await self._run(body)
        hits = resp["hits"]["hits"]
        more = len(hits) > limit if fetch > limit else limit > 0 and len(hits) == limit
        hits = hits[:limit]
        next_cursor = None
        if more:
            next_cursor = encode_cursor(hits[-1]["sort"][0], str(hits[-1]["sort"][1]))
        return Page(
            total=int(resp["hits"]["total"]["value"]),
            hits=[hit_document(h["_id"], h["_source"]) for h in hits],
            cursor=next_cursor if limit > 0 else cursor,
        )

    async def aggregate(
        self,
        query: ValidatedQuery,
        aggs: Mapping[str, Agg],
        *,
        capture_id: str | None = None,
        datasets: Sequence[str] | None = None,
        capture_ids: Sequence[str] | None = None,
    ) -> Aggregations:
        asked = agg_request(aggs, "es")  # QueryError before any I/O
        # Short top lists: their first values, proven exact (``pcaptotal.views.check_top``).
        tops = ask_short_tops(aggs, asked)
        restricted = await self._restricted(query, capture_id, datasets, capture_ids)
        body: dict[str, Any] = {"query": restricted, "track_total_hits": True, "size": 0}
        if asked:
            body["aggs"] = asked
        resp = await self._run(body)
        answers = dict(resp.get("aggregations") or {})
        for name, agg in tops.items():
            answers[name] = await self._exact_top(restricted, agg, answers.get(name) or {})
        out = finish_aggs(aggs, answers, "es")
        out.total = int(resp["hits"]["total"]["value"])
        return out

    async def _exact_top(
        self, restricted: dict[str, Any], agg: TermsAgg, first: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """The first answer when ``check_top`` proves it, else its values counted again over
        the records holding one of them when that proves it, else every value."""
        check = check_top(agg, first)
        if check.exact:
            return first
        every = {"terms": {"field": agg.field, "size": MAX_BUCKETS}}
        if check.recount:
            having = {"terms": {agg.field: check.recount}}
            narrowed = {"bool": {"filter": [restricted, having]}}
            again = await self._run({"query": narrowed, "size": 0, "aggs": {"x": every}})
            exact = recounted(agg, check, (again.get("aggregations") or {}).get("x") or {})
            if exact is not None:
                return exact
        full = await self._run({"query": restricted, "size": 0, "aggs": {"x": every}})
        answer: Mapping[str, Any] = (full.get("aggregations") or {}).get("x") or {}
        return answer

    # -- plumbing -------------------------------------------------------------------------------

    def _require(self) -> AsyncElasticsearch:
        if self._client is None:
            raise RuntimeError("ElasticsearchIndex is not started (call start() first)")
        return self._client

    async def _get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        status, resp = await self._call("GET", f"/{index}/_doc/{quote_id(doc_id)}", ok=(404,))
        if status == 404 or not resp.get("found"):
            return None
        source: dict[str, Any] = resp["_source"]
        return source
