"""The query language: Lucene syntax parsed by luqum, checked against the field schema."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

import pytest
from pcaptotal.adapters.tantivy_docs import tantivy_schema
from pcaptotal.fields import FLOW_FIELDS_BY_NAME, FieldType
from pcaptotal.query import QueryError, ValidatedQuery, ir, parse_query
from pcaptotal.query.tantivy_compiler import compile_query, to_micros
from pcaptotal.query.values import parse_date, wildcard_parts

F = FLOW_FIELDS_BY_NAME


def node(text: str) -> ir.Node:
    return parse_query(text).ir


def dt(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# -- match all ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "*", " * "])
def test_empty_and_star_match_everything(text: str) -> None:
    q = parse_query(text)
    assert q == ValidatedQuery(text, None)
    assert q.tree is None
    assert q.ir == ir.MatchAll()


# -- terms, phrases, escapes ----------------------------------------------------------------------


def test_keyword_term_is_exact_and_case_preserving() -> None:
    assert node("network.transport:TCP") == ir.Term(F["network.transport"], "TCP")


def test_phrase_on_keyword_is_one_exact_value_with_wildcards_literal() -> None:
    assert node('user_agent.original:"Mozilla/5.0 (X11)"') == ir.Term(
        F["user_agent.original"], "Mozilla/5.0 (X11)"
    )
    assert node('dns.question.name:"*wiki*"') == ir.Term(F["dns.question.name"], "*wiki*")
    assert node(r'url.original:"a \"quoted\" path"') == ir.Term(
        F["url.original"], 'a "quoted" path'
    )


def test_backslash_escapes() -> None:
    assert node(r"url.original:\/a\:b") == ir.Term(F["url.original"], "/a:b")
    # an escaped star is a literal star, not a wildcard
    assert node(r"tls.server.x509.subject.common_name:\*.wikipedia.org") == ir.Term(
        F["tls.server.x509.subject.common_name"], "*.wikipedia.org"
    )


def test_numbers_and_negative_numbers() -> None:
    assert node("destination.port:443") == ir.Term(F["destination.port"], 443)
    assert node("destination.port:-1") == ir.Term(F["destination.port"], -1)
    assert node("source.bytes:[-5 TO -1]") == ir.Range(F["source.bytes"], -5, -1)


# -- boolean structure ----------------------------------------------------------------------------


def test_implicit_operator_is_and() -> None:
    a, b = ir.Term(F["network.transport"], "tcp"), ir.Term(F["destination.port"], 80)
    assert node("network.transport:tcp destination.port:80") == ir.And((a, b))
    assert node("network.transport:tcp AND destination.port:80") == ir.And((a, b))


def test_and_binds_tighter_than_or() -> None:
    t = node("network.transport:tcp AND destination.port:80 OR network.transport:udp")
    assert isinstance(t, ir.Or)
    assert isinstance(t.children[0], ir.And)


def test_not_prohibit_plus_and_groups() -> None:
    tcp = ir.Term(F["network.transport"], "tcp")
    assert node("NOT network.transport:tcp") == ir.Not(tcp)
    assert node("-network.transport:tcp") == ir.Not(tcp)
    assert node("+network.transport:tcp") == tcp
    assert node("(network.transport:tcp)") == tcp
    assert node("network.transport:(tcp OR udp)") == ir.Or(
        (tcp, ir.Term(F["network.transport"], "udp"))
    )
    assert node("network.transport:(tcp -udp)") == ir.And(
        (tcp, ir.Not(ir.Term(F["network.transport"], "udp")))
    )


def test_boost_is_accepted_and_ignored() -> None:
    assert node("network.transport:tcp^2") == ir.Term(F["network.transport"], "tcp")


# -- bare terms ---------------------------------------------------------------------------------


def test_bare_term_searches_every_keyword_field() -> None:
    t = node("example.com")
    assert isinstance(t, ir.Or)
    fields = {c.field.type for c in t.children if isinstance(c, ir.Term)}
    assert fields == {FieldType.KEYWORD}
    assert ir.Term(F["url.domain"], "example.com") in t.children


def test_bare_ip_also_searches_ip_fields() -> None:
    t = node("10.0.0.1")
    assert isinstance(t, ir.Or)
    assert ir.Term(F["source.ip"], ip_address("10.0.0.1")) in t.children
    assert ir.Term(F["dns.answers.data"], "10.0.0.1") in t.children


def test_bare_wildcard_searches_keyword_fields() -> None:
    t = node("*wiki*")
    assert isinstance(t, ir.Or)
    assert all(isinstance(c, ir.Wildcard) for c in t.children)


# -- wildcards, regex, fuzzy, exists -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "regex"),
    [
        ("*.wikipedia.org", r"(?s).*\.wikipedia\.org"),
        ("www.*", r"(?s)www\..*"),
        ("*wiki*", "(?s).*wiki.*"),
        ("a?c", "(?s)a.c"),
        (r"a\*b*", r"(?s)a\*b.*"),
        ("a**b", "(?s)a.*b"),
    ],
)
def test_wildcards_on_keyword_fields(text: str, regex: str) -> None:
    t = node(f"dns.question.name:{text}")
    assert isinstance(t, ir.Wildcard)
    assert t.field == F["dns.question.name"]
    assert t.to_regex() == regex


def test_wildcard_lucene_form_escapes_literals() -> None:
    parts = wildcard_parts(r"a\*b?c*")
    assert parts is not None
    assert ir.Wildcard(F["url.original"], parts).to_lucene() == r"a\*b?c*"
    assert wildcard_parts("plain") is None


@pytest.mark.parametrize(
    "text",
    ["_exists_:tls.version", "tls.version:*", "tls.version:[* TO *]", '_exists_:"tls.version"'],
)
def test_exists(text: str) -> None:
    assert node(text) == ir.Exists(F["tls.version"])


def test_regex_and_fuzzy() -> None:
    assert node("dns.question.name:/.*wiki.*/") == ir.Regexp(F["dns.question.name"], ".*wiki.*")
    assert node("url.domain:exampel.com~1") == ir.Fuzzy(F["url.domain"], "exampel.com", 1)
    assert node("url.domain:exampel.com~") == ir.Fuzzy(F["url.domain"], "exampel.com", 2)


# -- ip ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ('destination.ip:"10.0.0.0/8"', "10.0.0.0", "10.255.255.255"),
        ("destination.ip:10.0.0.0/8", "10.0.0.0", "10.255.255.255"),
        ("destination.ip:10.1.2.3/24", "10.1.2.0", "10.1.2.255"),  # host bits allowed
        ('destination.ip:"2001:db8::/32"', "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
    ],
)
def test_cidr_is_an_inclusive_address_range(text: str, low: str, high: str) -> None:
    assert node(text) == ir.Range(F["destination.ip"], ip_address(low), ip_address(high))


def test_ip_terms_and_ranges() -> None:
    assert node('source.ip:"2001:db8::1"') == ir.Term(F["source.ip"], ip_address("2001:db8::1"))
    assert node(r"source.ip:2001\:db8\:\:1") == ir.Term(F["source.ip"], ip_address("2001:db8::1"))
    assert node("source.ip:[10.0.0.1 TO 10.0.0.9}") == ir.Range(
        F["source.ip"], ip_address("10.0.0.1"), ip_address("10.0.0.9"), True, False
    )


# -- ranges --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("destination.port:[1 TO 1023]", (1, 1023, True, True)),
        ("destination.port:{1 TO 1023}", (1, 1023, False, False)),
        ("destination.port:[1 TO 1023}", (1, 1023, True, False)),
        ("destination.port:[1024 TO *]", (1024, None, True, True)),
        ("destination.port:[* TO 1023]", (None, 1023, True, True)),
        ("destination.port:>=1024", (1024, None, True, True)),
        ("destination.port:>1023", (1023, None, False, True)),
        ("destination.port:<1024", (None, 1024, True, False)),
        ("destination.port:<=1023", (None, 1023, True, True)),
    ],
)
def test_long_ranges(text: str, expected: tuple[object, ...]) -> None:
    assert node(text) == ir.Range(F["destination.port"], *expected)  # type: ignore[arg-type]


def test_float_field_values() -> None:
    # no float field is declared today; the value parser still checks the type
    from pcaptotal.fields import Field

    f = Field("x.ratio", FieldType.FLOAT)
    from pcaptotal.query.parse import _Resolver

    assert _Resolver()._value(f, "1.5", 0, quoted=False) == ir.Term(f, 1.5)
    with pytest.raises(QueryError, match=r"bad value 'abc' for float field 'x\.ratio'"):
        _Resolver()._value(f, "abc", 0, quoted=False)
    b = Field("x.flag", FieldType.BOOL)
    assert _Resolver()._value(b, "TRUE", 0, quoted=False) == ir.Term(b, True)
    with pytest.raises(QueryError, match="expected true or false"):
        _Resolver()._value(b, "yes", 0, quoted=False)


# -- dates ---------------------------------------------------------------------------------------

US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2009-11-18", dt(2009, 11, 18), dt(2009, 11, 19) - US),
        ("2009-11", dt(2009, 11, 1), dt(2009, 12, 1) - US),
        ("2009", dt(2009, 1, 1), dt(2010, 1, 1) - US),
        ("2009-11-18T16", dt(2009, 11, 18, 16), dt(2009, 11, 18, 17) - US),
        ("2009-11-18T16:43", dt(2009, 11, 18, 16, 43), dt(2009, 11, 18, 16, 44) - US),
        ("2009-11-18T16:43:00", dt(2009, 11, 18, 16, 43), dt(2009, 11, 18, 16, 43, 1) - US),
        ("2009-11-18T16:43:00Z", dt(2009, 11, 18, 16, 43), dt(2009, 11, 18, 16, 43, 1) - US),
        (
            "2009-11-18 16:43:00.5",
            dt(2009, 11, 18, 16, 43, 0, 500000),
            dt(2009, 11, 18, 16, 43, 0, 599999),
        ),
        (
            "2009-11-18T16:43:00.123456",
            dt(2009, 11, 18, 16, 43, 0, 123456),
            dt(2009, 11, 18, 16, 43, 0, 123456),
        ),
        ("2009-11-18T17:43:00+01:00", dt(2009, 11, 18, 16, 43), dt(2009, 11, 18, 16, 43, 1) - US),
        ("2009-11-18T12:43:00-0400", dt(2009, 11, 18, 16, 43), dt(2009, 11, 18, 16, 43, 1) - US),
        ("1258562580000", dt(2009, 11, 18, 16, 43), dt(2009, 11, 18, 16, 43, 0, 999)),
        ("2009-11-18||+1d", dt(2009, 11, 19), dt(2009, 11, 20) - US),
        ("2009-01-31||+1M", dt(2009, 2, 28), dt(2009, 3, 1) - US),
    ],
)
def test_date_literals_name_an_interval(text: str, first: datetime, last: datetime) -> None:
    assert parse_date(text) == (first, last)


def test_date_math_relative_to_now() -> None:
    now = dt(2024, 3, 15, 10, 30, 45, 123)
    assert parse_date("now", now) == (now, now)
    assert parse_date("now-1d", now) == (now - timedelta(days=1),) * 2
    assert parse_date("now-1h+30m", now) == (now - timedelta(minutes=30),) * 2
    assert parse_date("now/d", now) == (dt(2024, 3, 15), dt(2024, 3, 16) - US)
    assert parse_date("now-1M/M", now) == (dt(2024, 2, 1), dt(2024, 3, 1) - US)
    assert parse_date("now/w", now) == (dt(2024, 3, 11), dt(2024, 3, 18) - US)
    assert parse_date("now-1y/y", now) == (dt(2023, 1, 1), dt(2024, 1, 1) - US)


def test_date_term_and_ranges_round_like_elasticsearch() -> None:
    f = F["event.start"]
    day, next_day = dt(2009, 11, 18), dt(2009, 11, 19)
    assert node("event.start:2009-11-18") == ir.Range(f, day, next_day - US)
    assert node("event.start:>=2009-11-18") == ir.Range(f, day, None, True, True)
    assert node("event.start:>2009-11-18") == ir.Range(f, next_day - US, None, False, True)
    assert node("event.start:<=2009-11-18") == ir.Range(f, None, next_day - US, True, True)
    assert node("event.start:<2009-11-18") == ir.Range(f, None, day, True, False)
    assert node("event.start:[2009-11-18 TO 2009-11-18]") == ir.Range(f, day, next_day - US)
    assert node('event.start:>"2009-11-18T17:43:00+01:00"') == ir.Range(
        f, dt(2009, 11, 18, 16, 43, 1) - US, None, False, True
    )
    t = node("event.start:[now-1d/d TO now]")
    assert isinstance(t, ir.Range) and isinstance(t.low, datetime)


def test_to_micros() -> None:
    assert to_micros(dt(1970, 1, 1, 0, 0, 1, 5)) == 1_000_005
    assert to_micros(datetime(1970, 1, 1, 0, 0, 1)) == 1_000_000  # naive = UTC
    assert to_micros(dt(1969, 12, 31, 23, 59, 59)) == -1_000_000


# -- errors name the problem --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sourse.ip:10.0.0.1", r"unknown field 'sourse.ip'; did you mean 'source.ip'\?"),
        ("foo.bar:1", r"unknown field 'foo.bar'"),
        (
            "_exists_:dns.qestion.name",
            r"unknown field 'dns.qestion.name'; did you mean 'dns.question.name'",
        ),
        ("source.ip:xyz", r"bad value 'xyz' for ip field 'source.ip'"),
        ('source.ip:"10.0.0.0/33"', r"bad value '10.0.0.0/33' for ip field 'source.ip'"),
        ("source.ip:10.*", r"wildcards work on keyword fields only.*use CIDR"),
        ("source.ip:2001:db8::1", r"quote .*IPv6"),
        ("destination.port:http", r"bad value 'http' for long field 'destination.port'"),
        ("destination.port:1.5", r"bad value '1.5' for long field"),
        ("destination.port:99999999999999999999", r"bad value .* for long field"),
        ("destination.port:[1 TO x]", r"bad value 'x' for long field 'destination.port'"),
        ("destination.port:8*", r"wildcards work on keyword fields only, not long field"),
        ("event.start:yesterday", r"bad value 'yesterday' for date field 'event.start'"),
        ("event.start:2009-13-01", r"bad value '2009-13-01' for date field"),
        ("event.start:>now-1x", r"bad value 'now-1x' for date field"),
        (
            "dns.question.name:[a TO b]",
            r"ranges are not supported on keyword field 'dns.question.name'",
        ),
        ("[1 TO 5]", r"a range needs a field"),
        ('"a b"~2', r"proximity"),
        ("destination.port:80~1", r"fuzzy search .* keyword terms only"),
        ("url.domain:example~3", r"fuzzy edit distance must be 0, 1 or 2"),
        ("destination.port:/8.*/", r"regular expressions work on keyword fields only"),
        ("url.domain:/a((/", r"bad regular expression /a\(\(/"),
        (
            "network.transport:(source.ip:1.2.3.4)",
            r"field 'source.ip' inside field 'network.transport'",
        ),
        ("a && b", r"'&&' is not an operator here: use AND, OR, NOT"),
        ("a || b", r"'\|\|' is not an operator here"),
        ("_exists_:(a OR b)", r"_exists_ takes one field name"),
        ("network.transport:tcp AND", r"syntax error: unexpected end of expression"),
        ("(network.transport:tcp", r"syntax error"),
        ("network.transport:", r"syntax error"),
        (":tcp", r"syntax error: unexpected +':' at position 0"),
        ('"unterminated', r"syntax error: Illegal character"),
        ("a AND OR b", r"syntax error: unexpected +'OR' at position 6"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(text)


def test_error_carries_position() -> None:
    with pytest.raises(QueryError) as info:
        parse_query("network.transport:tcp AND sourse.ip:1.2.3.4")
    assert info.value.position == 26
    assert "(at position 26)" in str(info.value)


def test_query_error_is_a_value_error() -> None:
    assert issubclass(QueryError, ValueError)


def test_too_long_and_non_string() -> None:
    with pytest.raises(QueryError, match="too long"):
        parse_query("a " * 60_000)
    with pytest.raises(QueryError, match="must be a string"):
        parse_query(123)  # type: ignore[arg-type]


def test_deep_nesting_is_a_query_error() -> None:
    with pytest.raises(QueryError):
        parse_query("(" * 3000 + "a" + ")" * 3000)


# -- compile to tantivy --------------------------------------------------------------------------

_SCHEMA = tantivy_schema()

COMPILABLE = [
    "network.transport:tcp",
    "dns.question.name:*.wikipedia.org",
    "destination.ip:10.0.0.0/8",
    'source.ip:"2001:db8::/32"',
    "destination.port:[1 TO 1023} AND NOT network.transport:udp",
    "event.start:[2009-11-18 TO now]",
    "_exists_:tls.version OR -tls.version:*",
    "NOT a",
    "a OR NOT b",
    "url.domain:exampel.com~1",
    "dns.question.name:/.*wiki.*/",
    "10.0.0.1",
]


@pytest.mark.parametrize("text", COMPILABLE)
def test_compiles_for_tantivy(text: str) -> None:
    assert compile_query(parse_query(text), _SCHEMA) is not None


# -- fuzz: junk never raises anything but QueryError ----------------------------------------------

_ATOMS = [
    "a",
    "tcp",
    "source.ip",
    "destination.port",
    "event.start",
    "dns.question.name",
    "_exists_",
    ":",
    '"',
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    " TO ",
    " AND ",
    " OR ",
    "NOT ",
    "-",
    "+",
    "*",
    "?",
    "~",
    "^",
    "/",
    "\\",
    ">",
    "<",
    "=",
    "10.0.0.0/8",
    "2001:db8::1",
    "now-1d",
    "2009-11-18",
    " ",
    "&&",
    "||",
    "!",
    "é",
    "\x00",
    "1",
    "-5",
    "..",
    "'",
]


def test_fuzz_junk_only_raises_query_error() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        text = "".join(rng.choice(_ATOMS) for _ in range(rng.randint(1, 12)))
        try:
            query = parse_query(text)
        except QueryError:
            continue
        except Exception as exc:  # pragma: no cover - the assertion message is the point
            pytest.fail(f"{text!r} raised {type(exc).__name__}: {exc}")
        with contextlib.suppress(QueryError):
            compile_query(query, _SCHEMA)


def test_fuzz_random_characters() -> None:
    rng = random.Random(99)
    alphabet = "".join(chr(c) for c in range(32, 127)) + "\t\n\u00e9\u4e2d"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        with contextlib.suppress(QueryError):
            compile_query(parse_query(text), _SCHEMA)
