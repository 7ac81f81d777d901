"""The embedded index's writer process (``tantivy_writer``): what the service keeps when the
writer dies or hangs, the order of a batch with a refused line, and which process holds the
flows index's writer (and so runs its merges)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from pcaptotal.adapters import record_formats, tantivy_index
from pcaptotal.adapters.tantivy_index import TantivyIndex
from pcaptotal.adapters.tantivy_writer import WriterError, WriterProcess
from pcaptotal.prepared import PreparedRecord
from pcaptotal.query import parse_query
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration


def record(n: int, capture: str = "c1", /, **fields: Any) -> dict[str, Any]:
    return {
        "event.id": f"{capture}-{n}",
        "event.dataset": "flow",
        "pcaptotal.capture_id": capture,
        "source.ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
        "destination.port": 443,
        "network.bytes": n,
        "url.original": f"http://example.com/{n}/" + hashlib.sha512(str(n).encode()).hexdigest(),
        **fields,
    }


async def total(idx: TantivyIndex, text: str = "") -> int:
    return (await idx.search_flows(parse_query(text))).total


def _writer(idx: TantivyIndex) -> int:
    pid = idx.writer_pid
    assert pid is not None
    return pid


async def test_a_killed_writer_is_replaced_and_loses_nothing_committed(tmp_path: Path) -> None:
    idx = TantivyIndex(tmp_path)
    await idx.start()
    try:
        await idx.add_flows([record(n) for n in range(50)])
        first = _writer(idx)
        os.kill(first, signal.SIGKILL)
        await idx.add_flows([record(n) for n in range(50, 60)])  # goes through a new one
        assert _writer(idx) != first
        assert await total(idx) == 60
        await idx.delete_flows("c1")
        assert await total(idx) == 0
    finally:
        await idx.close()
    again = TantivyIndex(tmp_path)
    await again.start()
    try:
        assert await total(again) == 0
    finally:
        await again.close()


async def test_a_writer_that_dies_inside_a_write_has_the_whole_write_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent a chunk at a time, a write whose writer died after taking its first chunk (not
    committed, so lost) is made again whole, not finished from the second chunk."""
    monkeypatch.setattr(tantivy_index, "_CONVERT_CHUNK", 2)
    idx = TantivyIndex(tmp_path)
    await idx.start()
    add = WriterProcess.add
    killed: list[int] = []

    def add_then_die(self: WriterProcess, items: Any, *, commit: bool) -> int | None:
        refused = add(self, items, commit=commit)
        if not killed:
            killed.append(_writer(idx))
            os.kill(killed[0], signal.SIGKILL)
            os.waitpid(killed[0], 0)  # gone before the next chunk is sent
        return refused

    monkeypatch.setattr(WriterProcess, "add", add_then_die)
    died = REGISTRY.get_sample_value("pcaptotal_index_writer_died_total") or 0.0
    try:
        await idx.add_flows([record(n) for n in range(6)])
        assert killed and _writer(idx) != killed[0]
        assert await total(idx) == 6
        assert REGISTRY.get_sample_value("pcaptotal_index_writer_died_total") == died + 1
    finally:
        await idx.close()


async def test_a_writer_that_does_not_answer_fails_the_write_and_is_replaced(
    tmp_path: Path,
) -> None:
    idx = TantivyIndex(tmp_path, write_timeout_s=1.0)
    await idx.start()
    try:
        await idx.add_flows([record(1)])
        stuck = _writer(idx)
        os.kill(stuck, signal.SIGSTOP)
        with pytest.raises(WriterError, match="did not answer in 1 s"):
            await idx.add_flows([record(2)])
        with pytest.raises(ProcessLookupError):  # killed, not left stopped
            os.kill(stuck, 0)
        await idx.add_flows([record(3)])
        assert await total(idx) == 2
        assert await idx.get_flow("c1-2") is None
    finally:
        await idx.close()


async def test_a_refused_line_keeps_the_batch_order(tmp_path: Path) -> None:
    """The writer stops at a line tantivy's JSON reader refuses; the service sends that
    record's own document, then the rest: a later record of the same id still wins."""
    encode = record_formats.encoder(record_formats.TANTIVY)
    first, last = record(1), record(1, **{"network.bytes": 99})
    refused = json.dumps({"event.id": first["event.id"], "source.ip": 5})
    other = record(2)
    idx = TantivyIndex(tmp_path)
    await idx.start()
    try:
        await idx.add_prepared(
            [
                PreparedRecord.of(refused, first),
                PreparedRecord.of(encode(last), last),
                PreparedRecord.of(encode(other), other),
            ]
        )
        assert await idx.get_flow("c1-1") == last
        assert await total(idx) == 2
        await idx.add_prepared(
            [PreparedRecord.of(encode(first), first), PreparedRecord.of(refused, last)]
        )
        assert await idx.get_flow("c1-1") == last
        assert await total(idx, "network.bytes:99") == 1
    finally:
        await idx.close()


def _lockers(path: Path) -> set[int]:
    """The pids holding a lock on ``path`` (``/proc/locks``)."""
    inode = path.stat().st_ino
    pids = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode):
            pids.add(int(fields[4]))
    return pids


async def test_the_flows_index_is_written_by_the_writer_process_alone(tmp_path: Path) -> None:
    """Its writer, and with it the merges that read whole segment files (pages counted in
    the process that maps them), is the writer process's: the service holds the captures
    index's writer only. Killed, the writer lets go of the lock for the next one."""
    idx = TantivyIndex(tmp_path)
    await idx.start()
    try:
        await idx.add_flows([record(n) for n in range(100)])
        flows_lock = tmp_path / "flows" / ".tantivy-writer.lock"
        assert _lockers(flows_lock) == {_writer(idx)}
        assert _lockers(tmp_path / "captures" / ".tantivy-writer.lock") == {os.getpid()}
        os.kill(_writer(idx), signal.SIGKILL)
        await idx.delete_flows("c1")  # the next writer takes the lock
        assert _lockers(flows_lock) == {_writer(idx)}
        assert await total(idx) == 0
    finally:
        await idx.close()
    assert not _lockers(flows_lock)


async def test_an_id_repeated_anywhere_leaves_one_record_the_last(tmp_path: Path) -> None:
    """The writer deletes the older record of an id only where there can be one: committed
    before the write, or added earlier in the same write (also in an earlier request of it:
    a write goes in requests of ``_CONVERT_CHUNK``, committed at its end)."""
    idx = TantivyIndex(tmp_path)
    await idx.start()
    try:
        n = 2 * tantivy_index._CONVERT_CHUNK + 500
        batch = [record(i) for i in range(n)]
        batch.append(record(3, **{"network.bytes": 10**9}))  # three requests later
        await idx.add_flows(batch)
        assert await total(idx) == n
        assert await total(idx, f"network.bytes:{10**9}") == 1
        assert await total(idx, "network.bytes:3") == 0
        # committed before: replaced, beside new ids
        await idx.add_flows([record(n + 1), record(7, **{"network.bytes": 10**9 + 1})])
        assert await total(idx) == n + 1
        assert (await idx.get_flow("c1-7") or {}).get("network.bytes") == 10**9 + 1
        # deleted and added again: one record
        await idx.delete_flows("c1")
        await idx.add_flows([record(5), record(5, **{"network.bytes": 55})])
        assert await total(idx) == 1 and await total(idx, "network.bytes:55") == 1
    finally:
        await idx.close()
