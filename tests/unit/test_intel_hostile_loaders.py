"""Feed loaders on hostile files: every one loads or is refused with a reason, bounded in time
and memory, and the reasons quote at most a short prefix of the bad input."""

from __future__ import annotations

import io
import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from pcaptotal_enricher.intel import read_feed
from pcaptotal_enricher.intel.indicator_set import IndicatorSet, load_feed
from pcaptotal_enricher.intel.limits import FeedLimits, json_depth_exceeds

FEODO_HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
FEODO_ROW = '"2025-12-30 13:56:31","50.16.16.211","443","online","2026-03-12","QakBot"\n'


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# -- JSON nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["[" * 100_000, '{"a":' * 100_000, '{"objects": ' + "[" * 5000 + "]" * 5000 + "}"]
)
def test_deeply_nested_json_is_a_feed_error_not_a_crash(tmp_path: Path, text: str) -> None:
    indicators, stats = read_feed(write(tmp_path, "deep.json", text))
    assert indicators == []
    assert stats.error == "JSON nested deeper than 64 levels"


def _depth(doc: Any) -> int:
    if isinstance(doc, list):
        return 1 + max(map(_depth, doc), default=0)
    if isinstance(doc, dict):
        return 1 + max(map(_depth, doc.values()), default=0)
    return 0


def _random_doc(rng: random.Random, level: int) -> Any:
    tricky = ["[", "]", '{"', "\\", '\\"', '"[', "x]}", "\u00e9[", "\\\\"]
    if level == 0 or rng.random() < 0.2:
        return "".join(rng.choice(tricky) for _ in range(rng.randint(0, 6)))
    if rng.random() < 0.5:
        return [_random_doc(rng, level - 1) for _ in range(rng.randint(0, 3))]
    return {
        "".join(rng.choice(tricky) for _ in range(3)) + str(i): _random_doc(rng, level - 1)
        for i in range(rng.randint(0, 3))
    }


def test_depth_check_agrees_with_the_decoder_whatever_the_chunking() -> None:
    rng = random.Random(7)
    for _ in range(300):
        doc = _random_doc(rng, rng.randint(0, 9))
        data = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
        depth = _depth(doc)
        for chunk in (1, 2, 3, 7, 64, 1 << 20):
            assert not json_depth_exceeds(io.BytesIO(data), depth, chunk), (data, chunk)
            if depth:
                assert json_depth_exceeds(io.BytesIO(data), depth - 1, chunk), (data, chunk)


def test_json_over_its_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "big.json", json.dumps([{"ip_address": "1.2.3.4"}] * 2000))
    limits = FeedLimits(max_json_bytes=10_000)
    indicators, stats = read_feed(path, limits=limits)
    assert indicators == [] and stats.error is not None
    assert "over the 10000 bytes limit for JSON" in stats.error


# -- NUL bytes ------------------------------------------------------------------------------------


def test_nul_bytes_in_text_feeds_are_malformed_lines(tmp_path: Path) -> None:
    indicators, stats = read_feed(write(tmp_path, "l.txt", "1.2.3.4\n\0evil.com\nevil.org\n"))
    assert sorted(i.value for i in indicators) == ["1.2.3.4", "evil.org"]
    assert [(e.line, e.reason) for e in stats.errors] == [(2, "line holds a NUL byte")]

    feodo = FEODO_HEADER + FEODO_ROW.replace("50.16.16.211", "50.16.16.2\x0011") + FEODO_ROW
    indicators, stats = read_feed(write(tmp_path, "feodo.csv", feodo))
    assert [i.value for i in indicators] == ["50.16.16.211"] and stats.malformed == 1

    _, stats = read_feed(write(tmp_path, "nul.bin", b"\0" * 5000))
    assert stats.error is None and stats.malformed == 1


@pytest.mark.parametrize(
    "doc",
    [
        [{"ip_address": "1.2.3.4\u0000", "malware": "x"}],
        {"Event": {"Attribute": [{"type": "ip-dst", "value": "1.2.\u00003.4", "to_ids": True}]}},
        {
            "type": "bundle",
            "objects": [
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                    "created": "2026-01-01T00:00:00Z",
                    "modified": "2026-01-01T00:00:00Z",
                    "pattern": "[ipv4-addr:value = '1.2.3.4\u0000']",
                    "pattern_type": "stix",
                    "valid_from": "2026-01-01T00:00:00Z",
                }
            ],
        },
        {"1": [{"ioc_value": "1.2.3.4\u0000:80", "ioc_type": "ip:port"}]},
    ],
)
def test_nul_escapes_in_json_feeds_are_malformed_items(tmp_path: Path, doc: Any) -> None:
    indicators, stats = load_feed(write(tmp_path, "f.json", json.dumps(doc)), "f.json")
    assert len(indicators) == 0
    assert stats.error is not None and "no indicators" in stats.error
    assert stats.malformed == 1


# -- long lines and memory ------------------------------------------------------------------------


def _peak_while_reading(path: Path) -> tuple[int, Any]:
    tracemalloc.start()
    try:
        result = read_feed(path)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_one_line_csv_is_read_in_bounded_memory(tmp_path: Path) -> None:
    huge = ",".join(["x" * 1000] * 20_000)  # ~20 MB on one line
    path = write(tmp_path, "one-line.csv", FEODO_HEADER + huge + "\n" + FEODO_ROW)
    peak, (indicators, stats) = _peak_while_reading(path)
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while reading a 20 MB line"
    assert [(e.line, e.reason) for e in stats.errors] == [(2, "line longer than 65536 characters")]
    assert [i.value for i in indicators] == ["50.16.16.211"]  # the next line is still read

    path = write(tmp_path, "only-line.csv", FEODO_HEADER.strip() + huge)  # header cut off too
    peak, (indicators, stats) = _peak_while_reading(path)
    assert peak < 4 * 1024 * 1024 and indicators == []
    assert stats.error == "no header line naming dst_ip|dstip"


def test_line_limit_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, "l.txt", "a" * 50 + ".example.com\nevil.org\n")
    indicators, stats = read_feed(path, limits=FeedLimits(max_line_chars=40))
    assert [i.value for i in indicators] == ["evil.org"]
    assert stats.errors[0].reason == "line longer than 40 characters"


def test_feed_over_the_size_limit_is_not_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, "l.txt", "1.2.3.4\n" * 1000)
    indicators, stats = load_feed(path, "l.txt", FeedLimits(max_feed_bytes=4000))
    assert len(indicators) == 0 and stats.indicators == 0
    assert stats.error == "feed of 8000 bytes is over the 4000 bytes limit"


# -- empty feeds, bounded reports -----------------------------------------------------------------


def test_feed_without_indicators_says_so(tmp_path: Path) -> None:
    identities = [{"type": "identity", "id": f"identity--{i}", "name": "x"} for i in range(500)]
    stix = {"type": "bundle", "id": "bundle--1", "objects": identities}
    _, stats = load_feed(write(tmp_path, "s.json", json.dumps(stix)), "s.json")
    assert stats.format == "stix"
    assert stats.error == "the feed yields no indicators (0 malformed, 0 skipped)"
    _, stats = load_feed(write(tmp_path, "c.txt", "# only comments\n\n"), "c.txt")
    assert stats.error == "the feed yields no indicators (0 malformed, 0 skipped)"


def test_reasons_quote_a_short_prefix_and_skip_reasons_are_bounded(tmp_path: Path) -> None:
    _, stats = read_feed(write(tmp_path, "l.txt", "x" * 10_000 + "!\n"))
    assert stats.malformed == 1 and len(stats.errors[0].reason) < 140
    attributes = [{"type": f"t{i}-" + "y" * 500, "value": "v", "to_ids": True} for i in range(100)]
    attributes.append({"type": "ip-dst", "value": "1.2.3.4", "to_ids": True})
    doc = {"Event": {"uuid": "u" * 10_000, "Attribute": attributes}}
    indicators, stats = read_feed(write(tmp_path, "e.json", json.dumps(doc)))
    assert [i.value for i in indicators] == ["1.2.3.4"]
    assert len(stats.skipped) <= 21 and sum(stats.skipped.values()) == 100
    assert all(len(reason) <= 200 for reason in stats.skipped)


def test_misp_feed_directory_errors_hold_no_paths(tmp_path: Path) -> None:
    feed = tmp_path / "misp"
    feed.mkdir()
    (feed / "manifest.json").write_text(json.dumps({"../../etc/passwd": {}, "missing-uuid": {}}))
    _, stats = load_feed(feed, "misp")
    assert stats.malformed == 2
    reasons = " ".join(e.reason for e in stats.errors)
    assert "is not an event uuid" in reasons and "cannot read: No such file" in reasons
    assert str(tmp_path) not in reasons and str(tmp_path) not in str(stats.error)


def test_merge_keeps_every_feeds_entries(tmp_path: Path) -> None:
    a, _ = load_feed(write(tmp_path, "a.txt", "1.2.3.4\n10.0.0.0/8\nevil.com\n"), "a.txt")
    b, _ = load_feed(write(tmp_path, "b.txt", "1.2.3.4\n10.0.0.0/8\nb.evil.com\n"), "b.txt")
    merged = IndicatorSet.merge([a, b])
    flow = {"destination.ip": "10.1.2.3", "source.ip": "1.2.3.4", "url.domain": "b.evil.com"}
    found = sorted((h.feed, h.indicator) for h in merged.match_flow(flow))
    assert found == [
        ("a.txt", "1.2.3.4"),
        ("a.txt", "10.0.0.0/8"),
        ("a.txt", "evil.com"),
        ("b.txt", "1.2.3.4"),
        ("b.txt", "10.0.0.0/8"),
        ("b.txt", "b.evil.com"),
    ]
    assert len(merged) == 4 and set(merged.feeds) == {"a.txt", "b.txt"}
    assert IndicatorSet.merge([a]) is a and len(IndicatorSet.merge([])) == 0
