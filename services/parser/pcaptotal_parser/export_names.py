"""The names tshark alone gives exported objects, replayed from the names it wrote.

tshark 4.0 (``ui/cli/tap-exportobject.c``) names each object by probing ``name``,
``name(1)``, ``name(2)``, ... in its directory until one does not exist, giving up at its
``gui.max_export_objects`` preference (1,000): the object then overwrites ``name(999)``. When
the files are taken out of its directory as they are written (``object_mover``), tshark finds
(nearly) every name free, so the names it writes are not the ones it would have written alone.
``ExportNames`` runs the same probing on a set of names in memory, in the order the files were
written, and so gives each file the name, and each slot the content, of a pass on its own.
"""

from __future__ import annotations

import os

from pcaptotal_parser.carving import copy_order

MAX_EXPORT_OBJECTS = 1000  # tshark's gui.max_export_objects default (a private, empty profile)
MAX_NAME_BYTES = 255  # EXPORT_OBJECT_MAXFILELEN: a copy's name is cut to fit it


def with_copy_number(name: str, count: int) -> str:
    """``eo_rename``: ``a.tar.gz``, 2 → ``a.tar(2).gz``; the part before the last ``.`` is
    cut so that the name stays within 255 bytes."""
    if count <= 0:
        return name
    raw, copy = os.fsencode(name), b"(%d)" % count
    dot = raw.rfind(b".")
    stem, ext = (raw[:dot], raw[dot:]) if dot >= 0 else (raw, b"")
    room = MAX_NAME_BYTES - (len(copy) + len(ext))
    if 0 <= room <= len(stem):  # unsigned in C: an extension longer than that cuts nothing
        stem = stem[:room]
    return os.fsdecode(stem + copy + ext)


class ExportNames:
    """Names of one protocol's directory, as tshark alone would have given them."""

    def __init__(self, max_objects: int = MAX_EXPORT_OBJECTS) -> None:
        self._max = max_objects
        self._taken: set[str] = set()
        self._written: set[str] = set()  # the names tshark wrote so far
        # per name, the lowest copy number not yet known to be taken: the slots of a name only
        # fill up, so probing resumes there (tshark's k²/2 probes become k)
        self._cursor: dict[str, int] = {}
        # per name, how many of its copies 0, 1, ... were written in a row so far (a lower
        # bound: ``own_name`` moves it on), so a copy's check costs O(1) amortised, not its
        # copy number (a name repeated k times: k²/2 names built and looked up)
        self._run: dict[str, int] = {}

    def own_name(self, written: str) -> str:
        """The object's own name, from the one tshark wrote.

        tshark writes ``a(2).html`` as a copy of ``a.html`` only while ``a.html`` and
        ``a(1).html`` are in its directory, so only after it wrote both; otherwise the name is
        the object's own. (When they were written, the name is read as a copy: a capture that
        names objects ``a(2).html`` besides ``a.html`` ones may then see its files under other
        copy numbers than a pass alone gives, the same files unless a name reaches the cap.)"""
        plain, number = copy_order(written)
        if not number:
            return written
        # (a copy of a long name is cut short, and read here as a name of its own: its copies
        # are cut to the same names, so the slots come out the same)
        run = self._run.get(plain, 0)
        while run < number and with_copy_number(plain, run) in self._written:
            run += 1
        self._run[plain] = run
        return plain if run >= number else written

    def place(self, written: str) -> str:
        """The name tshark alone gives the object it wrote as ``written`` (call in the order the
        files were written). A name already given means the object replaces that file."""
        name = self.own_name(written)
        self._written.add(written)
        count = self._cursor.get(name, 0)
        while True:
            slot = with_copy_number(name, count)
            if slot not in self._taken:
                break
            if count + 1 >= self._max:  # tshark stops probing and overwrites the last slot
                break
            count += 1
        self._cursor[name] = count
        self._taken.add(slot)
        return slot
