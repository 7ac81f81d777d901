"""The flows index's writer in a process of its own (the embedded index, ``TantivyIndex``).

Why a process: tantivy's background merges read the doc store files they stack (``*.store``,
~24 MB each) through ``mmap``, and those pages count in the resident memory of the process
that maps them: at 1 GB of capture they were ~290 MB of the runner's 603 MB peak
(docs/architecture.md, "Seventh round", "Eleventh round"). Here they count in this process,
which holds nothing else; the service keeps the index open for reading only and reloads it
after each commit. It is the shape of the distributed mode, where the index is a server.

Protocol (``python -m pcaptotal.adapters.tantivy_writer <socket fd> <index dir> <heap bytes>
<service pid>``, the index made by the service; pickled tuples over a socket, one request
at a time, each answered):
``("add", [(doc_id, json_line | tantivy.Document), ...], commit)`` upserts in order, and
commits what was added since the last commit if ``commit``; ``("delete", capture_id)``
deletes a capture's records and commits; ``("rollback",)`` drops what was not committed;
``("close",)`` waits for the merges and ends. Answers: ``("ok",)``; ``("refused", i)`` when
tantivy's JSON reader refused line ``i`` (the items before it are added, nothing committed:
the service sends that record as a document, then the rest); ``("error", kind, message)``,
after which everything since the last commit is rolled back, so a write sent in several
requests is still all or nothing. Imports stay light (the schema is the index's own): tests
start one per index.
"""

from __future__ import annotations

import multiprocessing.connection
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import tantivy

Item = tuple[str, "str | tantivy.Document"]
START_TIMEOUT_S = 60.0
_ERRORS: dict[str, type[Exception]] = {"ValueError": ValueError, "TypeError": TypeError}


class WriterError(RuntimeError):
    """The writer process failed a request for a reason other than the records' values, or
    did not answer in time (it is then killed, and started again on the next request)."""


class WriterDied(WriterError):
    """The writer process ended before it answered: what it had not committed is gone, and
    the next request starts another one."""


# -- the service's side ----------------------------------------------------------------------------


class WriterProcess:
    """A handle on the writer process of one index directory. Blocking calls: the index runs
    them on its one write thread, so requests never overlap."""

    def __init__(
        self, path: Path, heap_size: int, timeout_s: float, fields: tuple[str, str]
    ) -> None:
        """``fields``: the names of the records' id and capture id fields."""
        self._path = path
        self._fields = fields
        self._heap_size = heap_size
        self._timeout_s = timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._uncommitted = False  # it holds adds not committed yet (gone if it dies)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process and wait until it holds the writer."""
        ours, theirs = socket.socketpair()
        with theirs:
            args = [str(theirs.fileno()), str(self._path), str(self._heap_size), str(os.getpid())]
            args += self._fields
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, *args],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
        self._conn = multiprocessing.connection.Connection(ours.detach())
        self._answer(START_TIMEOUT_S)

    def add(self, items: Sequence[Item], *, commit: bool) -> int | None:
        """None once all are added (and committed if ``commit``), else the position of the
        first line tantivy refused (those before it are added, nothing is committed)."""
        answer = self._request(("add", list(items), commit))
        self._uncommitted = answer[0] == "refused" or not commit
        if answer[0] != "refused":
            return None
        assert isinstance(answer[1], int)
        return answer[1]

    def delete(self, capture_id: str) -> None:
        self._request(("delete", capture_id))
        self._uncommitted = False

    def rollback(self) -> None:
        self._request(("rollback",))
        self._uncommitted = False

    def close(self) -> None:
        """Let the merges finish and end the process (killed if it does not answer)."""
        if self._process is None:
            return
        try:
            if self._process.poll() is None:
                self._request(("close",))
        except WriterError:
            pass
        finally:
            self._stop(self._timeout_s)

    def _request(self, message: tuple[object, ...]) -> tuple[object, ...]:
        if self._process is None or self._process.poll() is not None:
            lost = self._uncommitted
            self._stop(0)
            if lost:  # the rest of this write alone must not be committed
                raise WriterDied("the index writer process ended with records not committed")
            self.start()  # a writer that died between writes is replaced
        assert self._conn is not None
        try:
            self._conn.send(message)
        except OSError as exc:
            self._stop(0)
            raise WriterDied(f"the index writer process is gone: {exc}") from exc
        return self._answer(self._timeout_s)

    def _answer(self, timeout_s: float) -> tuple[object, ...]:
        assert self._conn is not None and self._process is not None
        try:
            if not self._conn.poll(timeout_s):
                self._stop(0)
                raise WriterError(f"the index writer process did not answer in {timeout_s:g} s")
            answer: tuple[object, ...] = self._conn.recv()
        except (EOFError, OSError) as exc:
            process = self._process
            self._stop(1)
            raise WriterDied(
                f"the index writer process ended (exit code {process.returncode})"
            ) from exc
        if answer[0] != "error":
            return answer
        self._uncommitted = False  # it rolled back
        _, kind, text = answer
        raise _ERRORS.get(str(kind), WriterError)(str(text))

    def _stop(self, grace_s: float) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._uncommitted = False
        if conn is not None:
            conn.close()
        if process is not None:
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- the writer's side -----------------------------------------------------------------------------


def serve(
    conn: multiprocessing.connection.Connection, path: str, heap_size: int, fields: list[str]
) -> None:
    """Open the writer, then answer requests until ``close`` or until the service's end of
    the socket closes (the service ended)."""
    try:
        index = tantivy.Index.open(path)
        writer = _Writer(index, index.writer(heap_size, 1), *fields)
    except Exception as exc:  # the service reports it
        conn.send(("error", type(exc).__name__, f"cannot open the flows index at {path}: {exc}"))
        return
    conn.send(("ok",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if message[0] == "close":
            writer.writer.wait_merging_threads()
            conn.send(("ok",))
            break
        try:
            answer = writer.handle(message)
        except Exception as exc:  # answered, the writer goes on
            writer.rollback()
            answer = ("error", type(exc).__name__, str(exc))
        conn.send(answer)


class _Writer:
    """The index's writer and which ids it may already hold: an add deletes the older
    record of its id first (an upsert), and only where there can be one. Deleting by term for
    every record cost ~17 % of the writer's CPU on the flow-heavy capture (measured), and the
    enricher's records are almost never in the index (it deletes the capture's first)."""

    def __init__(
        self, index: tantivy.Index, writer: tantivy.IndexWriter, id_field: str, capture_field: str
    ) -> None:
        self.writer, self._index = writer, index
        self._id_field, self._capture_field = id_field, capture_field
        self._added: set[str] = set()  # ids added since the last commit (the searcher's blind)
        self._stale = True  # the searcher does not show the last commit yet

    def handle(self, message: tuple[object, ...]) -> tuple[object, ...]:
        kind = message[0]
        if kind == "add":
            items, commit = message[1], message[2]
            assert isinstance(items, list)
            refused = self._add(items)
            if refused is not None:
                return ("refused", refused)
            if commit:
                self._commit()
        elif kind == "delete":
            self.writer.delete_documents_by_term(self._capture_field, str(message[1]))
            self._commit()
        elif kind == "rollback":
            self.rollback()
        else:
            raise ValueError(f"unknown request {kind!r}")
        return ("ok",)

    def rollback(self) -> None:
        self.writer.rollback()
        self._added.clear()

    def _commit(self) -> None:
        self.writer.commit()
        self._added.clear()
        self._stale = True

    def _add(self, items: list[Item]) -> int | None:
        # One committed record of these ids and every one is deleted before its add, as
        # before; else only an id added since the last commit (a delete hits only the
        # records added before it, so duplicates still leave exactly the last one).
        committed = self._any_committed([doc_id for doc_id, _ in items])
        for position, (doc_id, doc) in enumerate(items):
            if committed or doc_id in self._added:
                self.writer.delete_documents_by_term(self._id_field, doc_id)
            if not isinstance(doc, str):
                self.writer.add_document(doc)
            else:
                try:
                    self.writer.add_json(doc)  # parsed and indexed in Rust
                except ValueError:  # a value from_dict takes and add_json does not
                    return position
            self._added.add(doc_id)
        return None

    def _any_committed(self, ids: list[str]) -> bool:
        if self._stale:
            self._index.reload()
            self._stale = False
        query = tantivy.Query.term_set_query(self._index.schema, self._id_field, ids)
        return bool(self._index.searcher().search(query, 1).hits)


def main() -> None:
    from pcaptotal.lifeline import die_with_parent
    from pcaptotal.memory import fix_mmap_threshold, limit_malloc_arenas

    fd, path, heap_size, parent, *fields = sys.argv[1:]
    die_with_parent(int(parent))
    limit_malloc_arenas()  # long-lived, as the services are
    fix_mmap_threshold()
    serve(multiprocessing.connection.Connection(int(fd)), path, int(heap_size), fields)


if __name__ == "__main__":
    main()
