"""The capture documents of the embedded index (``captures/``), cached per capture id.

A base of ``TantivyIndex``, which provides the store, the cache and its threads: every write
runs on the one writer thread, reads on the read pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import tantivy

from pcaptotal.adapters.tantivy_cache import CaptureCache
from pcaptotal.adapters.tantivy_docs import SOURCE, _parse, capture_document
from pcaptotal.adapters.tantivy_store import Store, get_raw
from pcaptotal.ports import CaptureChange
from pcaptotal.query.tantivy_compiler import to_micros

T = TypeVar("T")
_Q = tantivy.Query
_O = tantivy.Occur


class TantivyCaptures:
    _captures: Store | None
    _capture_cache: CaptureCache
    _store: Callable[[Store | None], Store]
    _write_then: Callable[[Callable[[], None], Callable[[], None]], Awaitable[None]]

    async def _read(self, fn: Callable[[], T]) -> T:
        raise NotImplementedError  # TantivyIndex's read pool

    async def put_capture(self, doc: dict[str, Any]) -> None:
        store = self._store(self._captures)

        def write() -> None:
            _replace(store, doc["id"], capture_document(doc))

        await self._write_then(write, lambda: self._capture_cache.changed(doc["id"]))

    async def change_capture(self, capture_id: str, change: CaptureChange) -> dict[str, Any] | None:
        # Atomic without versions: the read, the change and the write all run on the one
        # writer thread, where every write of this index runs, one after another.
        store = self._store(self._captures)
        stored: list[dict[str, Any] | None] = [None]

        def write() -> None:
            raw = get_raw(store, "id", capture_id)
            doc = change(_parse(raw) if raw is not None else None)
            if doc is None:
                return
            if doc.get("id") != capture_id:
                raise ValueError(f"capture {capture_id}: the change returned another id")
            _replace(store, capture_id, capture_document(doc))
            stored[0] = doc

        await self._write_then(write, lambda: self._capture_cache.changed(capture_id))
        return stored[0]

    async def delete_capture(self, capture_id: str) -> None:
        store = self._store(self._captures)

        def write() -> None:
            store.write(lambda writer: writer.delete_documents_by_term("id", capture_id))

        await self._write_then(write, lambda: self._capture_cache.changed(capture_id))

    async def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        store = self._store(self._captures)
        cache = self._capture_cache
        cached = cache.get(capture_id)
        if cached is not None:
            return cached
        if cache.known_missing(capture_id):
            return None
        generation = cache.generation
        raw = await self._read(lambda: get_raw(store, "id", capture_id))
        if raw is None:
            cache.put(capture_id, cache.MISSING, generation)
            return None
        cache.put(capture_id, raw, generation)
        return _parse(raw)

    async def find_captures(
        self,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        *,
        updated_since: datetime | None = None,
        verdicts: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        store = self._store(self._captures)
        if limit <= 0 or any(f is not None and not f for f in (statuses, verdicts)):
            return []

        def read() -> list[bytes]:
            musts: list[tuple[tantivy.Occur, tantivy.Query]] = [(_O.Must, _Q.all_query())]
            for name, values in (("status", statuses), ("verdict", verdicts)):
                if values is not None:
                    musts.append((_O.Must, _Q.term_set_query(store.schema, name, list(values))))
            if updated_since is not None:
                since = to_micros(updated_since)
                musts.append(
                    (
                        _O.Must,
                        _Q.range_query(
                            store.schema, "updated", tantivy.FieldType.Integer, since, 2**63 - 1
                        ),
                    )
                )
            query = _Q.boolean_query(musts)
            searcher = store.index.searcher()
            result = searcher.search(
                query, limit, count=False, order_by_field="created", order=tantivy.Order.Desc
            )
            return [searcher.doc(address)[SOURCE][0] for _, address in result.hits]

        cache = self._capture_cache
        key = repr((statuses, limit, updated_since, verdicts))
        found = cache.get_list(key)
        if found is None:
            generation = cache.generation
            found = await self._read(read)
            cache.put_list(key, found, generation)
        raws = found
        return await self._read(lambda: [_parse(raw) for raw in raws])


def _replace(store: Store, capture_id: str, tdoc: tantivy.Document) -> None:
    """The capture's document replaced by ``tdoc`` (one commit; on the writer thread)."""

    def upsert(writer: tantivy.IndexWriter) -> None:
        writer.delete_documents_by_term("id", capture_id)
        writer.add_document(tdoc)

    store.write(upsert)
