"""The embedded Index: two tantivy indexes (``flows/``, ``captures/``) under one directory.

``flows/`` holds every record of every capture (``event.dataset`` = flow, dns, http, tls,
file, finding), keyed by ``event.id``.

Documents are built in ``tantivy_docs``: each one's JSON is kept whole in the stored-only
``_source`` field and returned as the hit. tantivy calls block, so they run off the event
loop: writes on one thread (tantivy allows one writer per index, and a single thread
serializes upserts), reads on a small pool, flow searches (compiling included: wildcard and
fuzzy automata cost CPU and memory) on a pool of their own, so expensive searches never delay
reading a capture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog
import tantivy

from pcaptotal.adapters import record_formats, tantivy_search, tantivy_views
from pcaptotal.adapters.tantivy_cache import AggregationCache, CaptureCache
from pcaptotal.adapters.tantivy_captures import TantivyCaptures
from pcaptotal.adapters.tantivy_docs import (
    CAPTURE_FIELD,
    DATASET_FIELD,
    ID,
    _load,
    _parse,
    flow_json,
    tantivy_schema,
)
from pcaptotal.adapters.tantivy_docs import flow_document as flow_document  # tests use it
from pcaptotal.adapters.tantivy_store import Store, get_one, open_captures
from pcaptotal.adapters.tantivy_writer import Item, WriterDied, WriterError, WriterProcess
from pcaptotal.metrics import INDEX_WRITER_DIED
from pcaptotal.ports import SearchResult
from pcaptotal.prepared import PreparedRecord
from pcaptotal.query import ValidatedQuery
from pcaptotal.query.tantivy_compiler import compile_query
from pcaptotal.views import (
    Agg,
    Aggregations,
    Page,
    agg_request,
    finish_aggs,
    parse_sort,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_CONVERT_CHUNK = 1_000  # records converted (and sent to the writer) at a time
_Q = tantivy.Query
_O = tantivy.Occur


class TantivyIndex(TantivyCaptures):
    """The ``Index`` port on local tantivy indexes (the embedded, no-server default)."""

    record_format: str = record_formats.TANTIVY

    def __init__(
        self,
        path: Path,
        *,
        heap_size: int = 64_000_000,
        read_threads: int = 4,
        search_threads: int = 2,
        write_timeout_s: float = 600.0,
    ) -> None:
        self._path = Path(path)
        self._heap_size = heap_size
        self._write_timeout_s = write_timeout_s
        self._writer: WriterProcess | None = None
        self._read_threads = read_threads
        self._search_threads = search_threads
        self._flows: Store | None = None
        self._captures: Store | None = None
        self._writes: ThreadPoolExecutor | None = None
        self._reads: ThreadPoolExecutor | None = None
        self._searches: ThreadPoolExecutor | None = None
        self._capture_cache = CaptureCache(_parse)
        self._agg_cache = AggregationCache()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._writes is not None:
            return
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="tantivy-write")
        self._reads = ThreadPoolExecutor(self._read_threads, thread_name_prefix="tantivy-read")
        self._searches = ThreadPoolExecutor(
            self._search_threads, thread_name_prefix="tantivy-search"
        )
        try:
            self._flows, self._captures = await self._write(self._open)
        except BaseException:
            await self.close()
            raise

    def _open(self) -> tuple[Store, Store]:
        # made (or its schema checked) here, written by the writer process
        flows = Store(self._path / "flows", tantivy_schema(), 0, writable=False)
        writer = WriterProcess(
            self._path / "flows", self._heap_size, self._write_timeout_s, (ID, CAPTURE_FIELD)
        )
        writer.start()
        try:
            captures = open_captures(self._path / "captures", self._heap_size)
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        return flows, captures

    @property
    def writer_pid(self) -> int | None:
        """The records' writer process (tests and benches watch it)."""
        return self._writer.pid if self._writer is not None else None

    async def close(self) -> None:
        writes, reads, searches = self._writes, self._reads, self._searches
        if writes is None or reads is None or searches is None:
            return
        stores = [s for s in (self._flows, self._captures) if s is not None]
        writer, self._writer = self._writer, None

        def close_all() -> None:
            if writer is not None:
                writer.close()
            for store in stores:
                store.close()

        await asyncio.get_running_loop().run_in_executor(writes, close_all)
        self._flows = self._captures = None
        self._writes = self._reads = self._searches = None
        writes.shutdown(wait=True)
        reads.shutdown(wait=True)
        searches.shutdown(wait=True)

    async def ping(self) -> bool:
        if self._flows is None:
            return False
        flows = self._flows
        await self._read(lambda: flows.index.searcher().num_docs)
        return True

    @property
    def generation(self) -> tuple[int, int]:
        """Changes when a write of capture documents or records is committed (this process is
        the index's only writer): read routes keep answers under it (``answer_cache``)."""
        return self._capture_cache.generation, self._agg_cache.generation

    # -- flows ----------------------------------------------------------------------------------

    async def add_flows(self, docs: Sequence[dict[str, Any]]) -> None:
        encode = _Encoder()

        def items(chunk: Sequence[dict[str, Any]]) -> list[Item]:
            return [encode(doc) for doc in chunk]

        await self._write_records(docs, items, lambda doc: doc)

    async def add_prepared(self, records: Sequence[PreparedRecord]) -> None:
        encode = _Encoder()

        def items(chunk: Sequence[PreparedRecord]) -> list[Item]:
            out: list[Item] = []
            for rec in chunk:
                if rec.line is None or rec.id is None:
                    out.append(encode(rec.doc()))
                else:
                    out.append((rec.id, rec.line))
            return out

        await self._write_records(records, items, PreparedRecord.doc)

    async def _write_records(
        self,
        records: Sequence[R],
        items: Callable[[Sequence[R]], list[Item]],
        record: Callable[[R], dict[str, Any]],
    ) -> None:
        """The records to the writer process a chunk at a time (converted here: ~90 MB for
        10,000 documents at once), then one commit. All or nothing: a failure rolls back what
        the call had sent (every write commits, so nothing else)."""
        if not records:
            return
        store = self._store(self._flows)

        def send(chunk: Sequence[R], commit: bool) -> None:
            writer = self._writer_process()
            rest, taken = items(chunk), 0  # taken: the chunk's items the writer added
            while (refused := writer.add(rest, commit=commit)) is not None:
                # a value tantivy's JSON reader refuses and from_dict takes: the record's own
                # document, then the rest, in order
                taken += refused
                doc = record(chunk[taken])
                rest = [(doc[ID], flow_document(doc)), *rest[refused + 1 :]]

        def send_all() -> None:
            try:
                for start in range(0, len(records), _CONVERT_CHUNK):
                    end = min(start + _CONVERT_CHUNK, len(records))
                    send(records[start:end], end == len(records))
            except WriterError:
                raise  # it is gone, and what it had not committed with it
            except BaseException:
                self._writer_process().rollback()  # what the writer took before it
                raise

        def write() -> None:
            _once_more_if_it_died(send_all)
            store.reload()

        await self._write_then(write, self._agg_cache.changed)

    async def delete_flows(self, capture_id: str) -> None:
        store = self._store(self._flows)

        def write() -> None:
            _once_more_if_it_died(lambda: self._writer_process().delete(capture_id))
            store.reload()

        await self._write_then(write, self._agg_cache.changed)

    def _writer_process(self) -> WriterProcess:
        if self._writer is None:
            raise RuntimeError("TantivyIndex is not started (call start() first)")
        return self._writer

    async def get_flow(self, doc_id: str) -> dict[str, Any] | None:
        store = self._store(self._flows)
        return await self._read(lambda: get_one(store, ID, doc_id))

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
        store = self._store(self._flows)

        def search() -> SearchResult:
            compiled = compile_query(query, store.schema)  # raises QueryError
            musts: list[tuple[tantivy.Occur, tantivy.Query]] = [(_O.Must, compiled)]
            if capture_id is not None:
                musts.append((_O.Must, _Q.term_query(store.schema, CAPTURE_FIELD, capture_id)))
            if datasets is not None:
                terms = _Q.term_set_query(store.schema, DATASET_FIELD, list(datasets))
                musts.append((_O.Must, terms))
            if len(musts) > 1:
                compiled = _Q.boolean_query(musts)
            return tantivy_search.ordered_search(
                store.index, store.schema, compiled, max(limit, 0), max(offset, 0), raw
            )

        return await self._search(search)

    def _restricted(
        self,
        store: Store,
        query: ValidatedQuery,
        capture_id: str | None,
        datasets: Sequence[str] | None,
        capture_ids: Sequence[str] | None = None,
    ) -> tantivy.Query:
        compiled = compile_query(query, store.schema)  # raises QueryError
        musts: list[tuple[tantivy.Occur, tantivy.Query]] = [(_O.Must, compiled)]
        if capture_id is not None:
            musts.append((_O.Must, _Q.term_query(store.schema, CAPTURE_FIELD, capture_id)))
        if capture_ids is not None:
            ids = _Q.term_set_query(store.schema, CAPTURE_FIELD, list(capture_ids))
            musts.append((_O.Must, ids))
        if datasets is not None:
            musts.append((_O.Must, _Q.term_set_query(store.schema, DATASET_FIELD, list(datasets))))
        return _Q.boolean_query(musts) if len(musts) > 1 else compiled

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
        store = self._store(self._flows)
        f, descending = parse_sort(sort)

        def search() -> Page:
            restricted = self._restricted(store, query, capture_id, datasets)
            return tantivy_views.page_after(
                store.index, store.schema, restricted, f, descending, limit, cursor, _load
            )

        return await self._search(search)

    async def aggregate(
        self,
        query: ValidatedQuery,
        aggs: Mapping[str, Agg],
        *,
        capture_id: str | None = None,
        datasets: Sequence[str] | None = None,
        capture_ids: Sequence[str] | None = None,
    ) -> Aggregations:
        store = self._store(self._flows)
        body = agg_request(aggs, "tantivy")
        cache = self._agg_cache
        key = cache.key(repr(query.ir), body, capture_id, datasets, capture_ids)
        cached = cache.get(key)
        if cached is not None:  # the same question since the last write: the same answer
            raw, total = cached
            return await self._read(lambda: _finished(aggs, raw, total))
        generation = cache.generation

        def run() -> tuple[dict[str, Any], int]:
            restricted = self._restricted(store, query, capture_id, datasets, capture_ids)
            searcher = store.index.searcher()
            total = tantivy_search.count(searcher.search(restricted, 1, count=True))
            return tantivy_views.aggregate(store.index, store.schema, restricted, aggs), total

        raw, total = await self._search(run)
        cache.put(key, (raw, total), generation)
        return await self._read(lambda: _finished(aggs, raw, total))

    # -- plumbing -------------------------------------------------------------------------------

    async def _search(self, fn: Callable[[], T]) -> T:
        if self._searches is None:
            raise RuntimeError("TantivyIndex is not started (call start() first)")
        return await asyncio.get_running_loop().run_in_executor(self._searches, fn)

    def _store(self, store: Store | None) -> Store:
        if store is None:
            raise RuntimeError("TantivyIndex is not started (call start() first)")
        return store

    async def _write(self, fn: Callable[[], T]) -> T:
        if self._writes is None:
            raise RuntimeError("TantivyIndex is not started (call start() first)")
        return await asyncio.get_running_loop().run_in_executor(self._writes, fn)

    async def _write_then(self, fn: Callable[[], None], written: Callable[[], None]) -> None:
        """Run a write on the writer thread, then ``written()`` on the loop once it is over
        (committed or failed), also when the caller was cancelled meanwhile: the caches
        drop what the write may have changed before anyone reads again."""
        if self._writes is None:
            raise RuntimeError("TantivyIndex is not started (call start() first)")
        loop = asyncio.get_running_loop()
        done = self._writes.submit(fn)
        # Registered before wrap_future's own callback: runs on the loop before the caller
        # resumes.
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(written))
        await asyncio.wrap_future(done)

    async def _read(self, fn: Callable[[], T]) -> T:
        if self._reads is None:
            raise RuntimeError("TantivyIndex is not started (call start() first)")
        return await asyncio.get_running_loop().run_in_executor(self._reads, fn)


class _Encoder:
    """A record as the JSON line the analysis process makes for ``add_prepared``: a line
    crosses to the writer process as bytes, a tantivy Document through a slow pickle (~0.3 ms
    each); the Document only for a record the line cannot hold (a bad value or a missing id,
    which ``flow_document`` then names)."""

    def __init__(self) -> None:
        self._ips: dict[str, str] = {}  # an address's normal form, for one call's records

    def __call__(self, doc: dict[str, Any]) -> Item:
        line = flow_json(doc, self._ips)
        tdoc: str | tantivy.Document = flow_document(doc) if line is None else line
        return doc[ID], tdoc


def _once_more_if_it_died(write: Callable[[], None]) -> None:
    """``write`` again, whole, if the writer process died during it (it lost what it had not
    committed; every write is an upsert or a delete, so doing it again changes nothing else)."""
    try:
        write()
    except WriterDied as exc:
        INDEX_WRITER_DIED.inc()
        log.warning("index_writer_died", error=str(exc), action="writing again")
        write()


def _finished(aggs: Mapping[str, Agg], raw: dict[str, Any], total: int) -> Aggregations:
    """Buckets of a backend answer, new objects each time (the answer may be cached)."""
    out = finish_aggs(aggs, raw, "tantivy")
    out.total = total
    return out
