"""Community ID v1 against the spec's baseline and the spec authors' implementation."""

from __future__ import annotations

import json
import random

import communityid
import pytest
from pcaptotal_parser.community_id import community_id

from tests.paths import COMMUNITY_ID


def _baseline(name: str) -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads((COMMUNITY_ID / name).read_text())
    return data


@pytest.mark.parametrize(
    ("name", "seed", "b64"),
    [("baseline_deflt.json", 0, True), ("baseline_seed1.json", 1, True),
     ("baseline_nob64.json", 0, False)],
)  # fmt: skip
def test_spec_baseline_tuples(name: str, seed: int, b64: bool) -> None:
    entries = _baseline(name)
    assert len(entries) >= 20
    for e in entries:
        got = community_id(
            int(str(e["proto"])),
            str(e["saddr"]),
            str(e["daddr"]),
            e["sport"] if isinstance(e["sport"], int) else None,
            e["dport"] if isinstance(e["dport"], int) else None,
            seed=seed,
            base64_encoded=b64,
        )
        assert got == e["communityid"], e


def _random_addr(rnd: random.Random, v6: bool) -> str:
    if v6:
        return ":".join(f"{rnd.randrange(0x10000):x}" for _ in range(8))
    return ".".join(str(rnd.randrange(256)) for _ in range(4))


def test_matches_the_spec_authors_package_on_random_tuples() -> None:
    rnd = random.Random(3)
    ref = communityid.CommunityID()
    for _ in range(2000):
        v6 = rnd.random() < 0.5
        proto = rnd.choice([1, 6, 17, 58, 132, 47, 46])
        if (proto == 1 and v6) or (proto == 58 and not v6):
            proto = 17
        saddr, daddr = _random_addr(rnd, v6), _random_addr(rnd, v6)
        sport: int | None
        dport: int | None
        if rnd.random() < 0.05:
            daddr = saddr  # equal addresses: the ports decide the order
        if proto in (1, 58):
            sport, dport = rnd.choice([0, 3, 8, 11, 128, 129, 133, 135, 200]), rnd.randrange(4)
        elif proto in (6, 17, 132):
            sport, dport = rnd.randrange(65536), rnd.randrange(65536)
        else:
            sport = dport = None
        tpl = communityid.FlowTuple(proto, saddr, daddr, sport, dport)
        assert community_id(proto, saddr, daddr, sport, dport) == ref.calc(tpl)


def test_unparsable_address_gives_none() -> None:
    assert community_id(6, "not-an-ip", "10.0.0.1", 1, 2) is None
