"""The Elasticsearch query compiler and mapping, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pcaptotal.adapters.es_mapping import (
    flow_index_body,
    flow_source,
    hit_document,
    index_names,
)
from pcaptotal.fields import FLOW_FIELDS, FLOW_FIELDS_BY_NAME
from pcaptotal.query import QueryError, ir, parse_query
from pcaptotal.query.es_compiler import compile_query, lucene_regex


def q(text: str) -> dict[str, Any]:
    return compile_query(parse_query(text))


def test_mapping_declares_every_field() -> None:
    props = flow_index_body()["mappings"]["properties"]
    assert set(props) == {f.name for f in FLOW_FIELDS}
    assert flow_index_body()["mappings"]["dynamic"] is False
    assert props["source.ip"]["type"] == "ip"
    assert props["event.start"]["type"] == "date_nanos"
    assert props["tls.server.x509.not_after"]["type"] == "date"
    assert props["event.risk_score"]["type"] == "double"
    assert props["destination.port"] == {"type": "long", "coerce": False}


def test_index_names() -> None:
    assert index_names() == ("pcaptotal-flows", "pcaptotal-captures")
    with pytest.raises(ValueError, match="prefix"):
        index_names("Upper")


def test_boolean_shapes() -> None:
    assert q("") == {"match_all": {}}
    assert q("NOT network.transport:tcp") == {
        "bool": {
            "filter": [{"match_all": {}}],
            "must_not": [{"term": {"network.transport": {"value": "tcp"}}}],
        }
    }
    assert q("network.transport:(udp OR icmp)")["bool"]["minimum_should_match"] == 1


def test_ip_and_cidr() -> None:
    assert q("source.ip:10.0.0.1") == {"term": {"source.ip": {"value": "10.0.0.1"}}}
    assert q("source.ip:10.0.0.0/8") == {
        "range": {"source.ip": {"gte": "10.0.0.0", "lte": "10.255.255.255"}}
    }


def test_nanos_dates_keep_microseconds_and_clamp() -> None:
    assert q("event.start:>=2009-11-18T16:43:00.1235") == {
        "range": {"event.start": {"gte": "2009-11-18T16:43:00.123500Z"}}
    }
    assert q("event.start:<1960-01-01") == {"match_none": {}}
    assert q("event.start:>3000-01-01") == {"match_none": {}}
    assert q("event.start:>1960-01-01") == {"exists": {"field": "event.start"}}
    assert q("event.start:[1960-01-01 TO 2009-11-18]") == {
        "range": {"event.start": {"lte": "2009-11-18T23:59:59.999999Z"}}
    }


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        # whole-millisecond doc values: µs bounds become the equivalent ms bounds
        (">=2009-01-01T00:00:00.0005", {"gte": "2009-01-01T00:00:00.001Z"}),
        (">2009-01-01T00:00:00.0005", {"gt": "2009-01-01T00:00:00.000Z"}),
        ("<2009-01-01T00:00:00.0005", {"lt": "2009-01-01T00:00:00.001Z"}),
        ("<=2009-01-01T00:00:00.0005", {"lte": "2009-01-01T00:00:00.000Z"}),
        ("<2009-01-01", {"lt": "2009-01-01T00:00:00.000Z"}),
    ],
)
def test_millisecond_dates_round_exactly(text: str, bounds: dict[str, str]) -> None:
    assert q(f"tls.server.x509.not_before:{text}") == {
        "range": {"tls.server.x509.not_before": bounds}
    }


def test_wildcard_fuzzy_exists() -> None:
    assert q(r"tls.server.x509.subject.common_name:\*.wiki*") == {
        "wildcard": {"tls.server.x509.subject.common_name": {"value": r"\*.wiki*"}}
    }
    fuzzy = q("url.domain:exampel.com~1")["fuzzy"]["url.domain"]
    assert (fuzzy["fuzziness"], fuzzy["transpositions"], fuzzy["prefix_length"]) == (1, True, 0)
    assert q("_exists_:tls.version") == {"exists": {"field": "tls.version"}}


def test_text_match() -> None:
    f = ir.TextMatch(FLOW_FIELDS_BY_NAME["tags"], "a b", phrase=True)
    assert compile_query(f) == {"match_phrase": {"tags": {"query": "a b"}}}


@pytest.mark.parametrize(
    ("rust", "lucene"),
    [
        (".*wiki.*", "([^\\\n])*wiki([^\\\n])*"),
        ("(?s)a.b", "a.b"),
        ("^ab$", "ab"),
        (r"[^a-z\d]x{2,3}", "[^a-z0-9](x){2,3}"),
        (r"\d+\.x", r"([0-9])+\.x"),
        ("a#b@c~d&e<f>", r"a\#b\@c\~d\&e\<f\>"),
        ("a|bc", "(a|bc)"),
    ],
)
def test_regex_translation(rust: str, lucene: str) -> None:
    assert lucene_regex(rust) == lucene


@pytest.mark.parametrize("rust", [r"\bfoo", "(?i)abc", r"\p{L}+", "[[:alpha:]]", "a(?=b)"])
def test_regex_rust_only_syntax_is_refused(rust: str) -> None:
    with pytest.raises(QueryError, match="not supported by this index"):
        lucene_regex(rust)


def test_flow_source_checks_like_tantivy() -> None:
    doc_id, body = flow_source(
        {
            "event.id": "x",
            "event.start": datetime(2009, 1, 1, tzinfo=UTC),
            "dns.question.name": ["a", None],
            "threat.enrichments": [{"matched": {"field": "source.ip"}}],
        }
    )
    assert doc_id == "x" and "_id" not in body and body["event.id"] == "x"
    assert body["event.start"] == "2009-01-01T00:00:00+00:00"
    assert body["dns.question.name"] == ["a", None]  # untouched
    assert hit_document("x", body)["event.id"] == "x" and "_id" not in hit_document("x", body)
    for field, value in [
        ("source.ip", "not-an-ip"),
        ("destination.port", "80"),
        ("destination.port", 8.5),
        ("event.start", "yesterday"),
        ("event.start", "2009-11-18 16:43:00"),  # ES reads only the T form
        ("event.start", "1969-12-31T23:59:59Z"),  # date_nanos starts at 1970
        ("event.risk_score", float("nan")),
        ("dns.question.name", [["nested"]]),
    ]:
        with pytest.raises(ValueError, match=f"flow x: bad .* for '{field}'"):
            flow_source({"event.id": "x", field: value})
    with pytest.raises(ValueError, match=r"without a string event\.id"):
        flow_source({"source.ip": "10.0.0.1"})
