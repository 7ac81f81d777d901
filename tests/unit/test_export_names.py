"""Names of exported objects moved out as tshark writes them equal tshark's names alone."""

from __future__ import annotations

import random

import pytest
from pcaptotal_parser.carving import copy_order
from pcaptotal_parser.export_names import ExportNames, with_copy_number

LONG = ("decodeArguments%3f" + "O%3A12%3A" * 30)[:255]  # no extension: copies are cut
LONG_DOT = "x" * 251 + ".php"  # 255 bytes: a copy keeps the extension, cuts the stem


def tshark_writes(names: list[str], present: set[str], max_objects: int) -> str:
    """``eo_draw``'s probing for the next object named ``names[-1]`` in a directory that holds
    ``present``: the name it writes."""
    name = names[-1]
    count = 0
    while True:
        slot = with_copy_number(name, count)
        if slot not in present:
            return slot
        count += 1
        if count >= max_objects:
            return slot


def alone(objects: list[str], max_objects: int) -> dict[str, int]:
    """slot → index of the object whose content it holds, for tshark on its own."""
    slots: dict[str, int] = {}
    for i in range(len(objects)):
        slot = tshark_writes(objects[: i + 1], set(slots), max_objects)
        slots[slot] = i
    return slots


def moved(objects: list[str], max_objects: int, rng: random.Random) -> dict[str, int]:
    """The same objects, each file taken out of tshark's directory some time after it was
    written (a random lag), and named by ``ExportNames`` in the order they were written."""
    directory: list[str] = []  # written, not yet moved, oldest first
    names = ExportNames(max_objects)
    slots: dict[str, int] = {}
    written: list[tuple[str, int]] = []
    for i in range(len(objects)):
        while directory and rng.random() < 0.6:  # the mover takes the oldest files
            directory.pop(0)
        name = tshark_writes(objects[: i + 1], set(directory), max_objects)
        if name not in directory:
            directory.append(name)
        written.append((name, i))
    for name, i in written:
        slots[names.place(name)] = i
    return slots


@pytest.mark.parametrize("seed", range(40))
def test_replayed_names_equal_tshark_alone(seed: int) -> None:
    rng = random.Random(seed)
    pool = [
        "index.html",
        "gate.php",
        "a.tar.gz",
        "%2f",
        ".htaccess",
        "object12",
        "x(2).js",
        "m.php%3ff=a()",
        LONG,
        LONG_DOT,
    ]
    objects = [rng.choice(pool) for _ in range(rng.randrange(1, 120))]
    max_objects = rng.choice([3, 5, 1000])
    assert moved(objects, max_objects, rng) == alone(objects, max_objects)


@pytest.mark.parametrize("seed", range(40))
def test_names_with_copy_numbers_of_their_own_keep_every_file(seed: int) -> None:
    """Objects named like another name's copies: the numbering may differ from a pass alone,
    which objects are kept does not (below the cap)."""
    rng = random.Random(seed)
    pool = ["x.js", "x(1).js", "x(2).js", "y.css"]
    objects = [rng.choice(pool) for _ in range(rng.randrange(1, 80))]
    ours, theirs = moved(objects, 1000, rng), alone(objects, 1000)
    assert len(ours) == len(theirs) == len(objects)
    assert sorted(ours.values()) == sorted(theirs.values())


def test_past_the_cap_the_last_object_replaces_the_last_slot() -> None:
    names = ExportNames(max_objects=3)
    slots = [names.place("gate.php") for _ in range(5)]
    assert slots == ["gate.php", "gate(1).php", "gate(2).php", "gate(2).php", "gate(2).php"]


def test_copy_numbers_go_before_the_last_extension() -> None:
    assert with_copy_number("a.tar.gz", 2) == "a.tar(2).gz"
    assert with_copy_number("%2f", 1) == "%2f(1)"
    assert with_copy_number(".htaccess", 3) == "(3).htaccess"
    assert with_copy_number("a.html", 0) == "a.html"
    assert with_copy_number(LONG, 1) == LONG[:252] + "(1)"
    assert with_copy_number(LONG, 12) == LONG[:251] + "(12)"
    assert with_copy_number(LONG_DOT, 3) == "x" * 248 + "(3).php"


def test_a_name_of_its_own_with_a_copy_number_is_kept() -> None:
    names = ExportNames()
    assert names.place("report(1).pdf") == "report(1).pdf"  # no report.pdf before it
    assert names.place("report.pdf") == "report.pdf"
    assert names.place("report.pdf") == "report(2).pdf"  # (1) is taken
    assert names.place("report(2).pdf") == "report(3).pdf"  # (1) and (2) written: a copy


def test_a_copy_number_is_read_as_a_copy_only_after_every_lower_copy() -> None:
    names = ExportNames()
    assert names.place("a.html") == "a.html"
    assert names.place("a(2).html") == "a(2).html"  # no a(1).html yet: a name of its own
    assert names.place("a(1).html") == "a(1).html"  # a copy of a.html: its first free slot


@pytest.mark.parametrize(
    "name",
    ["a.html", "%2f", ".htaccess", "a.tar.gz", "moadmin.php%3ffind=array()%3bexit%3b", "x(2).js"],
)
def test_copy_order_undoes_the_copy_number(name: str) -> None:
    for n in (1, 2, 17):
        assert copy_order(with_copy_number(name, n)) == (name, n)
