"""One on-disk tantivy index (``Store``) and the reads and opening of the captures index that
``TantivyIndex`` builds on."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tantivy

from pcaptotal.adapters.tantivy_docs import SOURCE, _load, capture_document, captures_schema

_RELOAD_TRIES = 5
_Q = tantivy.Query


class Store:
    """One on-disk tantivy index, with the writer held open for the adapter's lifetime
    (``writable``) or read only (another process writes it: ``tantivy_writer``)."""

    def __init__(
        self, path: Path, schema: tantivy.Schema, heap_size: int, *, writable: bool = True
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self.index = tantivy.Index(schema, path=str(path), reuse=True)
        except ValueError as exc:
            raise RuntimeError(
                f"cannot open tantivy index at {path}: {exc}. If the field schema changed, "
                "move this directory away and re-index."
            ) from exc
        self.schema = schema
        self.writer: tantivy.IndexWriter | None = (
            self.index.writer(heap_size, 1) if writable else None
        )

    def commit(self) -> None:
        assert self.writer is not None, "index is closed"
        self.writer.commit()
        self.index.reload()  # visible to searchers on return

    def write(self, change: Callable[[tantivy.IndexWriter], object]) -> None:
        """``change`` the index and commit it, or nothing: a change or commit that raises is
        rolled back. Otherwise its pending operations would ride along with the next commit,
        e.g. the delete of an upsert whose add was lost (a capture document gone)."""
        writer = self.writer
        assert writer is not None, "index is closed"
        try:
            change(writer)
            self.commit()
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                writer.rollback()
            raise

    def reload(self) -> None:
        """See what another process committed. Retried: that writer's clean-up may delete a
        merged-away segment file between this reader's reading meta.json and opening it."""
        for attempt in range(_RELOAD_TRIES):
            try:
                self.index.reload()
                return
            except ValueError:
                if attempt == _RELOAD_TRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.wait_merging_threads()  # consumes the writer, releases the lock
            self.writer = None


def open_captures(path: Path, heap_size: int) -> Store:
    """Open the captures index; one written with an older schema (fewer indexed fields) is
    rebuilt from the ``_source`` of its documents, which hold everything. The rebuild is
    written beside the old index and swapped in, so a crash at any point loses nothing."""
    old, new = path.with_name(path.name + ".old"), path.with_name(path.name + ".new")
    if old.exists() and not path.exists():  # a crash between the two renames below
        old.rename(path)
    shutil.rmtree(new, ignore_errors=True)
    try:
        return Store(path, captures_schema(), heap_size)
    except RuntimeError:
        if not (path / "meta.json").exists():
            raise
    previous = tantivy.Index.open(str(path))
    searcher = previous.searcher()
    total = searcher.num_docs
    hits = searcher.search(_Q.all_query(), total).hits if total else []
    docs = [_load(searcher, address) for _, address in hits]
    rebuilt = Store(new, captures_schema(), heap_size)
    assert rebuilt.writer is not None
    for doc in docs:
        rebuilt.writer.add_document(capture_document(doc))
    rebuilt.commit()
    rebuilt.close()
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    new.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return Store(path, captures_schema(), heap_size)


def get_raw(store: Store, field: str, value: str) -> bytes | None:
    searcher = store.index.searcher()
    result = searcher.search(_Q.term_query(store.schema, field, value), 1, count=False)
    if not result.hits:
        return None
    raw: bytes = searcher.doc(result.hits[0][1])[SOURCE][0]
    return raw


def get_one(store: Store, field: str, value: str) -> dict[str, Any] | None:
    searcher = store.index.searcher()
    result = searcher.search(_Q.term_query(store.schema, field, value), 1, count=False)
    return _load(searcher, result.hits[0][1]) if result.hits else None
