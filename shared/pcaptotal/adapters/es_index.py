"""The production Index: Elasticsearch (or OpenSearch) through ``elasticsearch[async]``.

Two indices, ``<prefix>-flows`` and ``<prefix>-captures`` (mappings in ``es_mapping``).

Media type: elasticsearch-py 9 rewrites ``Accept``/``Content-Type`` to
``application/vnd.elasticsearch+json; compatible-with=9`` inside
``AsyncElasticsearch.perform_request`` (and checks for the ``X-Elastic-Product`` header).
OpenSearch and osmem-server answer 406 to that media type, and the client has no switch for it,
so every call goes through ``client.transport.perform_request`` (elastic-transport), which sends
the headers given: plain ``application/json`` / ``application/x-ndjson``, understood by
Elasticsearch 7-9 and OpenSearch alike. Retries (connection errors, timeouts, 429/502/503/504)
and per-call timeouts are the transport's own; every request here is idempotent.

Only core APIs are used (index/bulk/get/search/delete_by_query/refresh/mapping): no
point-in-time or other Elasticsearch-only calls, so OpenSearch and osmem-server work the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import orjson
from elastic_transport import ApiResponseMeta
from elasticsearch import AsyncElasticsearch
from elasticsearch.exceptions import HTTP_EXCEPTIONS, ApiError

from pcaptotal.adapters import record_formats
from pcaptotal.adapters.es_bulk import bulk_bodies
from pcaptotal.adapters.es_mapping import (
    DEFAULT_PREFIX,
    ID,
    capture_index_body,
    flow_index_body,
    hit_document,
    index_names,
)
from pcaptotal.metrics import BULK_INDEX_ERRORS
from pcaptotal.ports import CaptureChange, CaptureConflict, SearchResult
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

JSON = "application/json"
NDJSON = "application/x-ndjson"
SORT_FIELD = "@timestamp"  # hits come back oldest first, ties by event.id (as in tantivy)
CAPTURE_FIELD = "pcaptotal.capture_id"
DATASET_FIELD = "event.dataset"
CHANGE_ATTEMPTS = 20  # read-modify-writes of a capture document lost to other writers in a row
MAX_RESULT_WINDOW = 10_000  # ES's default index.max_result_window: from + size beyond it fails
_FLOW_SORT = [{SORT_FIELD: {"order": "asc", "missing": "_last"}}, {ID: {"order": "asc"}}]
_CAPTURE_SORT = [{"created": {"order": "desc", "missing": "_last"}}, {"id": {"order": "asc"}}]


class ElasticsearchIndex:
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
            if _error_type(resp) != "resource_already_exists_exception":
                raise RuntimeError(f"cannot create index {name}: {_reason(resp)}")
            status, resp = await self._call(
                "PUT", f"/{name}/_mapping", body=body["mappings"], ok=(400,)
            )
            if status == 400:
                raise RuntimeError(
                    f"index {name} has a mapping that conflicts with the field schema "
                    f"({_reason(resp)}); re-index into a new prefix"
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

    # -- captures -------------------------------------------------------------------------------

    async def put_capture(self, doc: dict[str, Any]) -> None:
        capture_id = doc.get("id")
        if not isinstance(capture_id, str) or not capture_id:
            raise ValueError(f"capture document without a string id: {str(doc)[:200]}")
        path = f"/{self.captures_index}/_doc/{_quote(capture_id)}"
        status, resp = await self._call(
            "PUT", path, body=doc, params={"refresh": "wait_for"}, ok=(400,)
        )
        if status == 400:
            raise ValueError(f"capture {capture_id}: {_reason(resp)}")

    async def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        return await self._get(self.captures_index, capture_id)

    async def change_capture(self, capture_id: str, change: CaptureChange) -> dict[str, Any] | None:
        # Optimistic concurrency: the write names the sequence number it read (or asks to
        # create), and a 409 means another writer came first: read again and redo the change.
        path = f"/{self.captures_index}/_doc/{_quote(capture_id)}"
        for _ in range(CHANGE_ATTEMPTS):
            status, resp = await self._call("GET", path, ok=(404,))
            found = status != 404 and bool(resp.get("found"))
            doc = change(resp["_source"] if found else None)
            if doc is None:
                return None
            if doc.get("id") != capture_id:
                raise ValueError(f"capture {capture_id}: the change returned another id")
            params = {"refresh": "wait_for"}
            if found:
                params |= {"if_seq_no": str(resp["_seq_no"])}
                params |= {"if_primary_term": str(resp["_primary_term"])}
            else:
                params["op_type"] = "create"
            status, resp = await self._call("PUT", path, body=doc, params=params, ok=(400, 409))
            if status == 400:
                raise ValueError(f"capture {capture_id}: {_reason(resp)}")
            if status != 409:
                return doc
        raise CaptureConflict(f"capture {capture_id}: {CHANGE_ATTEMPTS} concurrent writes won")

    async def delete_capture(self, capture_id: str) -> None:
        path = f"/{self.captures_index}/_doc/{_quote(capture_id)}"
        await self._call("DELETE", path, params={"refresh": "true"}, ok=(404,))

    async def find_captures(
        self,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        *,
        updated_since: datetime | None = None,
        verdicts: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        if limit <= 0 or any(f is not None and not f for f in (statuses, verdicts)):
            return []
        filters: list[dict[str, Any]] = []
        for name, values in (("status", statuses), ("verdict", verdicts)):
            if values is not None:
                filters.append({"terms": {name: list(values)}})
        if updated_since is not None:
            since = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=UTC)
            filters.append({"range": {"updated": {"gte": since.isoformat()}}})
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        body = {"query": query, "size": min(limit, MAX_RESULT_WINDOW), "sort": _CAPTURE_SORT}
        _, resp = await self._call("POST", f"/{self.captures_index}/_search", body=body)
        return [dict(h["_source"]) for h in resp["hits"]["hits"]]

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
                _raise_bulk_errors(resp, done=i)
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
        # QueryError surfaces before any I/O; compiling is CPU-bound, so off the event loop
        compiled = await asyncio.to_thread(compile_query, query)
        filters: list[dict[str, Any]] = [compiled]
        if capture_id is not None:
            filters.append({"term": {CAPTURE_FIELD: capture_id}})
        if datasets is not None:
            filters.append({"terms": {DATASET_FIELD: list(datasets)}})
        if len(filters) > 1:
            compiled = {"bool": {"filter": filters}}
        limit, offset = max(limit, 0), max(offset, 0)
        if limit and offset + limit > MAX_RESULT_WINDOW:
            raise QueryError(
                f"cannot page past the first {MAX_RESULT_WINDOW} hits; narrow the query"
            )
        body: dict[str, Any] = {"query": compiled, "track_total_hits": True, "size": limit}
        if limit:
            body.update({"from": offset, "sort": _FLOW_SORT})
        status, resp = await self._call(
            "POST", f"/{self.flows_index}/_search", body=body, ok=(400,)
        )
        if status == 400:  # e.g. a regex too complex for Lucene
            raise QueryError(f"cannot run query: {_reason(resp)}")
        hits = resp["hits"]
        total, page = int(hits["total"]["value"]), hits["hits"]
        cursor = None
        if page and total > offset + len(page):  # search_page's cursor after the last hit
            cursor = encode_cursor(page[-1]["sort"][0], str(page[-1]["sort"][1]))
        docs = [hit_document(h["_id"], h["_source"]) for h in page]
        if raw:
            return SearchResult(total=total, hits=[], cursor=cursor, raw=_as_json(docs))
        return SearchResult(total=total, hits=docs, cursor=cursor)

    async def _restricted(
        self,
        query: ValidatedQuery,
        capture_id: str | None,
        datasets: Sequence[str] | None,
        capture_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
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
        if status == 400:
            raise QueryError(f"cannot run query: {_reason(resp)}")
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
        request = agg_request(aggs, "es")  # QueryError before any I/O
        # Short top lists: their first values, proven exact (``pcaptotal.views.check_top``).
        tops = ask_short_tops(aggs, request)
        restricted = await self._restricted(query, capture_id, datasets, capture_ids)
        body: dict[str, Any] = {"query": restricted, "track_total_hits": True, "size": 0}
        if request:
            body["aggs"] = request
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
        status, resp = await self._call("GET", f"/{index}/_doc/{_quote(doc_id)}", ok=(404,))
        if status == 404 or not resp.get("found"):
            return None
        source: dict[str, Any] = resp["_source"]
        return source

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        ndjson: bool = False,
        ok: Sequence[int] = (),
        seconds: float | None = None,
        retries: int | None = None,
    ) -> tuple[int, Any]:
        """One request with plain JSON media types (see module doc); raises ``ApiError``
        for any status that is neither 2xx nor in ``ok``."""
        client = self._require()
        headers = {"accept": JSON}
        if body is not None:
            headers["content-type"] = NDJSON if ndjson else JSON
        target = f"{path}?{urlencode(params)}" if params else path
        resp = await client.transport.perform_request(
            method,
            target,
            headers=headers,
            body=body,
            request_timeout=self._timeout if seconds is None else seconds,
            max_retries=self._max_retries if retries is None else retries,
            retry_on_timeout=True,
        )
        status = resp.meta.status
        if 200 <= status < 300 or status in ok:
            return status, resp.body
        raise _api_error(status, resp.body, resp.meta)


def _quote(doc_id: str) -> str:
    return quote(doc_id, safe="")


def _error_type(resp: Any) -> str:
    error = resp.get("error") if isinstance(resp, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def _reason(resp: Any) -> str:
    error = resp.get("error") if isinstance(resp, dict) else resp
    if isinstance(error, dict):
        root = (error.get("root_cause") or [error])[0]
        caused = error.get("caused_by") or {}
        reason = f"{root.get('type')}: {root.get('reason')}"
        if isinstance(caused, dict) and caused.get("reason"):
            reason += f" ({caused.get('reason')})"
        return reason
    return str(error)[:500]


def _api_error(status: int, body: Any, meta: ApiResponseMeta) -> ApiError:
    cls = HTTP_EXCEPTIONS.get(status, ApiError)
    return cls(message=_reason(body), meta=meta, body=body)


def _raise_bulk_errors(resp: dict[str, Any], done: int) -> None:
    failed = [
        (item.get("_id"), item.get("status"), item.get("error"))
        for entry in resp.get("items", [])
        for item in entry.values()
        if item.get("error")
    ]
    if not failed:
        return
    BULK_INDEX_ERRORS.inc(len(failed))
    doc_id, _, error = failed[0]
    what = _reason({"error": error})
    msg = f"{len(failed)} flow(s) not indexed, first {doc_id}: {what}"
    if done:
        msg += f" (after {done} earlier bulk request(s) were written)"
    if all(s == 400 for _, s, _ in failed):
        raise ValueError(msg)  # bad documents: retrying cannot help
    raise RuntimeError(msg)  # rejections / shard trouble: the caller's retry may


def _as_json(docs: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for doc in docs:
        try:
            out.append(orjson.dumps(doc))
        except TypeError:  # an integer beyond 64 bits: the json module writes it
            out.append(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
    return out
