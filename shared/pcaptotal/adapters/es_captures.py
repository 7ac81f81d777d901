"""The capture documents of the Elasticsearch/OpenSearch index (``<prefix>-captures``).

A base of ``ElasticsearchIndex``, which provides the index name and the requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pcaptotal.adapters.es_mapping import MAX_RESULT_WINDOW
from pcaptotal.adapters.es_transport import quote_id, reason
from pcaptotal.ports import CaptureChange, CaptureConflict

CHANGE_ATTEMPTS = 20  # read-modify-writes of a capture document lost to other writers in a row
_CAPTURE_SORT = [{"created": {"order": "desc", "missing": "_last"}}, {"id": {"order": "asc"}}]


class EsCaptures:
    captures_index: str
    _call: Callable[..., Awaitable[tuple[int, Any]]]
    _get: Callable[[str, str], Awaitable[dict[str, Any] | None]]

    async def put_capture(self, doc: dict[str, Any]) -> None:
        capture_id = doc.get("id")
        if not isinstance(capture_id, str) or not capture_id:
            raise ValueError(f"capture document without a string id: {str(doc)[:200]}")
        path = f"/{self.captures_index}/_doc/{quote_id(capture_id)}"
        status, resp = await self._call(
            "PUT", path, body=doc, params={"refresh": "wait_for"}, ok=(400,)
        )
        if status == 400:
            raise ValueError(f"capture {capture_id}: {reason(resp)}")

    async def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        return await self._get(self.captures_index, capture_id)

    async def change_capture(self, capture_id: str, change: CaptureChange) -> dict[str, Any] | None:
        # Optimistic concurrency: the write names the sequence number it read (or asks to
        # create), and a 409 means another writer came first: read again and redo the change.
        path = f"/{self.captures_index}/_doc/{quote_id(capture_id)}"
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
                raise ValueError(f"capture {capture_id}: {reason(resp)}")
            if status != 409:
                return doc
        raise CaptureConflict(f"capture {capture_id}: {CHANGE_ATTEMPTS} concurrent writes won")

    async def delete_capture(self, capture_id: str) -> None:
        path = f"/{self.captures_index}/_doc/{quote_id(capture_id)}"
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
