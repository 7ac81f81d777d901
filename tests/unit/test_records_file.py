"""The records file read twice: kinds told from raw lines, and a second pass by line number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pcaptotal.memory import SharedStrings
from pcaptotal.records import iter_numbered, surely_not_flow, write_ndjson_zst

RECORDS: list[dict[str, Any]] = [
    {"event.dataset": "flow", "event.id": "f1"},
    {"event.dataset": "dns", "event.id": "d1"},
    {"event.id": "legacy"},  # parsed before records had kinds: a flow
    # a string holding the mark is escaped in JSON: no false "not a flow"
    {"event.dataset": "flow", "event.id": "f2", "note": '"event.dataset":"dns"'},
    # a nested kind beside the record's own: decoded, never skipped
    {"event.id": "f3", "evidence": {"event.dataset": "finding"}, "event.dataset": "flow"},
    {"event.dataset": "http", "event.id": "h1", "note": '"event.dataset":"flow"'},
    {"event.dataset": "finding", "event.id": "x1", "x": float("nan")},  # json.dumps' NaN
]


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "records.ndjson.zst"
    write_ndjson_zst(RECORDS, path)
    return path


def test_surely_not_flow_is_never_wrong_about_a_flow() -> None:
    for record in RECORDS:
        line = orjson.dumps(record)
        if record.get("event.dataset", "flow") == "flow":
            assert not surely_not_flow(line), record
    assert surely_not_flow(orjson.dumps(RECORDS[1]))


async def test_two_passes_give_every_record_once(tmp_path: Path) -> None:
    path = _file(tmp_path)
    flows: list[str] = []
    others: set[int] = set()

    def maybe_flow(i: int, line: bytes) -> bool:
        if surely_not_flow(line):
            others.add(i)
            return False
        return True

    async for batch in iter_numbered(path, batch_size=2, wanted=maybe_flow):
        for i, record in batch:
            if record.get("event.dataset", "flow") == "flow":
                flows.append(record["event.id"])
            else:
                others.add(i)
    assert flows == ["f1", "legacy", "f2", "f3"]
    second = [
        r["event.id"] async for b in iter_numbered(path, 2, lambda i, _: i in others) for _, r in b
    ]
    assert second == ["d1", "h1", "x1"]


def test_shared_strings_keep_every_value_and_share_the_objects() -> None:
    listed = {"event.dataset": "flow", "names": ["x.example", "y", "x.example"], "n": [1]}
    decoded = [orjson.loads(orjson.dumps(r)) for r in [*RECORDS[:5], listed]]
    expected = [dict(r) for r in decoded]
    strings = SharedStrings()
    for record in decoded:
        strings.share(record)
    assert decoded == expected
    assert decoded[0]["event.dataset"] is decoded[3]["event.dataset"]  # one "flow"
    assert decoded[-1]["names"][0] is decoded[-1]["names"][2]
    strings.clear()
    late = orjson.loads(orjson.dumps(RECORDS[0]))
    strings.share(late)
    assert late["event.dataset"] is not decoded[0]["event.dataset"]  # a new table
