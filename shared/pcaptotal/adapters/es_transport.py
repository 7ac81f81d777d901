"""One Elasticsearch/OpenSearch request with plain JSON media types, and its errors.

Media type: elasticsearch-py 9 rewrites ``Accept``/``Content-Type`` to
``application/vnd.elasticsearch+json; compatible-with=9`` inside
``AsyncElasticsearch.perform_request`` (and checks for the ``X-Elastic-Product`` header).
OpenSearch and osmem-server answer 406 to that media type, and the client has no switch for it,
so every call goes through ``client.transport.perform_request`` (elastic-transport), which sends
the headers given: plain ``application/json`` / ``application/x-ndjson``, understood by
Elasticsearch 7-9 and OpenSearch alike. Retries (connection errors, timeouts, 429/502/503/504)
and per-call timeouts are the transport's own; every request the index makes is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from elastic_transport import ApiResponseMeta
from elasticsearch import AsyncElasticsearch
from elasticsearch.exceptions import HTTP_EXCEPTIONS, ApiError

from pcaptotal.metrics import BULK_INDEX_ERRORS

JSON = "application/json"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class Requests:
    """How one index adapter sends requests: its client (``client()`` raises when the
    adapter is not started) and its default timeout and retries."""

    client: Callable[[], AsyncElasticsearch]
    timeout_s: float
    retries: int

    async def __call__(
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
        """Send one request; raises ``ApiError`` for any status that is neither 2xx nor in
        ``ok``."""
        client = self.client()
        headers = {"accept": JSON}
        if body is not None:
            headers["content-type"] = NDJSON if ndjson else JSON
        target = f"{path}?{urlencode(params)}" if params else path
        resp = await client.transport.perform_request(
            method,
            target,
            headers=headers,
            body=body,
            request_timeout=self.timeout_s if seconds is None else seconds,
            max_retries=self.retries if retries is None else retries,
            retry_on_timeout=True,
        )
        status = resp.meta.status
        if 200 <= status < 300 or status in ok:
            return status, resp.body
        raise api_error(status, resp.body, resp.meta)


def quote_id(doc_id: str) -> str:
    return quote(doc_id, safe="")


def error_type(resp: Any) -> str:
    error = resp.get("error") if isinstance(resp, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def reason(resp: Any) -> str:
    error = resp.get("error") if isinstance(resp, dict) else resp
    if isinstance(error, dict):
        root = (error.get("root_cause") or [error])[0]
        caused = error.get("caused_by") or {}
        reason = f"{root.get('type')}: {root.get('reason')}"
        if isinstance(caused, dict) and caused.get("reason"):
            reason += f" ({caused.get('reason')})"
        return reason
    return str(error)[:500]


def api_error(status: int, body: Any, meta: ApiResponseMeta) -> ApiError:
    cls = HTTP_EXCEPTIONS.get(status, ApiError)
    return cls(message=reason(body), meta=meta, body=body)


def raise_bulk_errors(resp: dict[str, Any], done: int) -> None:
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
    what = reason({"error": error})
    msg = f"{len(failed)} flow(s) not indexed, first {doc_id}: {what}"
    if done:
        msg += f" (after {done} earlier bulk request(s) were written)"
    if all(s == 400 for _, s, _ in failed):
        raise ValueError(msg)  # bad documents: retrying cannot help
    raise RuntimeError(msg)  # rejections / shard trouble: the caller's retry may
