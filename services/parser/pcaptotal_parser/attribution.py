"""Which flow each carved file came from (the rule is described in ``carving``)."""

from __future__ import annotations

from collections import defaultdict

from pcaptotal_parser.carving import PROTOCOLS, CarvedFile
from pcaptotal_parser.flows import FlowBuilder


def file_facts(file: CarvedFile) -> list[tuple[str, str | int]]:
    return [
        ("file.hash.md5", file.md5),
        ("file.hash.sha1", file.sha1),
        ("file.hash.sha256", file.sha256),
        ("file.size", file.size),
        ("file.mime_type", file.mime_type),
        ("file.name", file.name),
        ("pcaptotal.file.protocol", file.protocol),
    ]


def attach_files(builder: FlowBuilder, files: list[CarvedFile]) -> list[CarvedFile]:
    """Put each file's facts on its flow(s); returns the files no flow could be found for."""
    index = builder.object_index()
    by_name: dict[tuple[str, str], list[CarvedFile]] = defaultdict(list)
    # by content, not by tshark's (n) suffixes: those depend on how the capture was split
    for file in sorted(files, key=lambda f: (f.protocol, f.base_name, f.sha256, f.size)):
        by_name[(file.protocol, file.base_name)].append(file)
    orphans: list[CarvedFile] = []
    for (protocol, base), group in by_name.items():
        candidates = index.get((protocol, base), [])
        if not candidates:
            speaking = builder.flows_speaking(PROTOCOLS[protocol])
            candidates = [(speaking[0], len(group))] if len(speaking) == 1 else []
        if not candidates:
            orphans.extend(group)
            continue
        if len(candidates) == 1:
            targets = [[candidates[0][0]] for _ in group]
        else:  # HTTP bodies: the flows whose messages had that many body bytes; else all
            targets = [_by_size(builder, [k for k, _ in candidates], f) for f in group]
        for file, keys in zip(group, targets, strict=True):
            for key in keys:
                for name, value in file_facts(file):
                    builder.add_flow_fact(key, name, value)
    return orphans


def _by_size(builder: FlowBuilder, keys: list[str], file: CarvedFile) -> list[str]:
    sized = [
        key
        for key in keys
        if file.size in builder.flow_values(key, "http.response.body.bytes")
        or file.size in builder.flow_values(key, "http.request.body.bytes")
    ]
    return sized if len(sized) == 1 else keys
