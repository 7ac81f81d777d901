"""Which flow each carved file came from (the rule is described in ``carving``), and the
``file`` records: one per distinct file (by SHA-256) of a capture, linked to every flow it was
carved from; HTTP files also go on the ``http`` records whose response (or upload) they are."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from pcaptotal.fields import DATASET_KINDS, ECS_VERSION
from pcaptotal.memory import capture_cache

from pcaptotal_parser.carving import PROTOCOLS, CarvedFile, massage, path_basename
from pcaptotal_parser.flows import FlowBuilder
from pcaptotal_parser.transactions import record_id


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


def attach_files(
    builder: FlowBuilder,
    files: list[CarvedFile],
    targets: list[tuple[CarvedFile, list[str]]] | None = None,
) -> list[CarvedFile]:
    """Put each file's facts on its flow(s) (and HTTP records); returns the files no flow
    could be found for. ``targets``, when given, receives (file, flow keys) of every file."""
    found = targets if targets is not None else []
    index = builder.object_index()
    by_name: dict[tuple[str, str], list[CarvedFile]] = defaultdict(list)
    # by content, not by tshark's (n) suffixes: those depend on how the capture was split
    for file in sorted(files, key=lambda f: (f.protocol, f.base_name, f.sha256, f.size)):
        by_name[(file.protocol, file.base_name)].append(file)
    orphans: list[CarvedFile] = []
    # flows by export protocol, found once: each lookup walks every flow, and a flow-heavy
    # capture has tens of thousands of flows and hundreds of file names without candidates
    # (attaching files was 39 % of the parse of the 200 MB bench capture). Attaching files
    # adds facts, never protocols, so the answer holds for the whole loop.
    speaking_by: dict[str, list[str]] = {}
    for (protocol, base), group in by_name.items():
        candidates = index.get((protocol, base), [])
        if not candidates:
            if protocol not in speaking_by:
                speaking_by[protocol] = builder.flows_speaking(PROTOCOLS[protocol])
            speaking = speaking_by[protocol]
            candidates = [(speaking[0], len(group))] if len(speaking) == 1 else []
        if not candidates:
            orphans.extend(group)
            found.extend((file, []) for file in group)
            continue
        if len(candidates) == 1:
            per_file = [[candidates[0][0]] for _ in group]
        else:  # HTTP bodies: the flows whose messages had that many body bytes; else all
            # (one list of every candidate, shared by the files it falls back to: N files
            # of one name over M flows held N x M keys, 17 MB on the flow-heavy bench)
            sized = _BySize(builder, [k for k, _ in candidates])
            per_file = [sized.keys(f.size) for f in group]
        done: set[tuple[tuple[str, str | int], ...]] = set()
        for file, keys in zip(group, per_file, strict=True):
            found.append((file, keys))
            # the same content under the same name goes on the same flows: once is enough
            # (a name served many times, e.g. 70 copies of one file, was N x M x requests)
            facts = tuple(file_facts(file))
            if facts in done:
                continue
            done.add(facts)
            for key in keys:
                for name, value in facts:
                    builder.add_flow_fact(key, name, value)
                if protocol == "http":
                    _attach_to_http(builder, key, file)
    return orphans


@capture_cache(maxsize=4096)
def http_object_name(target: str) -> str:
    """The name tshark gives an HTTP object of request target ``target``."""
    return massage(path_basename(target))


def _attach_to_http(builder: FlowBuilder, flow_key: str, file: CarvedFile) -> None:
    """The file on the flow's HTTP records whose URI tshark would name it after (and, of
    several, those whose body had the file's size)."""
    tx = builder.transactions(flow_key)
    if tx is None:
        return
    named = [
        h for h in tx.http if h.target is not None and http_object_name(h.target) == file.base_name
    ]
    sized = [
        h
        for h in named
        if file.size
        in (h.response.get("http.response.body.bytes"), h.request.get("http.request.body.bytes"))
    ]
    facts = {
        "file.hash.md5": file.md5,
        "file.hash.sha1": file.sha1,
        "file.hash.sha256": file.sha256,
        "file.size": file.size,
        "file.mime_type": file.mime_type,
    }
    for http in sized or named:
        # a set, not a scan of the list: a bot's replies of one size put every reply of its
        # name on every such response (1,000 files x 1,000 responses)
        if http.file_hashes is None:
            http.file_hashes = set()
        if file.sha256 not in http.file_hashes:
            http.file_hashes.add(file.sha256)
            http.files.append(facts)


def file_records(
    builder: FlowBuilder, targets: list[tuple[CarvedFile, list[str]]]
) -> Iterator[dict[str, Any]]:
    """One ``file`` record per distinct file (SHA-256) of the capture."""
    by_hash: dict[str, list[tuple[CarvedFile, list[str]]]] = {}
    for file, keys in targets:
        by_hash.setdefault(file.sha256, []).append((file, keys))
    capture_id = builder.capture_id
    # the flow records a file needs, made once per flow (a name served by many flows puts
    # each flow under many files)
    documents: dict[str, dict[str, Any]] = {}

    def document(key: str) -> dict[str, Any]:
        doc = documents.get(key)
        if doc is None:
            doc = documents[key] = builder.flow_document(key)
        return doc

    for sha256, group in by_hash.items():
        file = group[0][0]
        doc: dict[str, Any] = {
            "event.id": record_id(capture_id, f"file-{sha256}"),
            "event.dataset": "file",
            "event.kind": DATASET_KINDS["file"],
            "ecs.version": ECS_VERSION,
            "pcaptotal.capture_id": capture_id,
            "file.name": list(dict.fromkeys(f.name for f, _ in group)),
            "file.size": file.size,
            "file.mime_type": file.mime_type,
            "file.hash.md5": file.md5,
            "file.hash.sha1": file.sha1,
            "file.hash.sha256": sha256,
            "pcaptotal.file.protocol": list(dict.fromkeys(f.protocol for f, _ in group)),
        }
        keys = list(dict.fromkeys(k for _, ks in group for k in ks))
        flows = [document(k) for k in keys]
        if flows:
            first = min(flows, key=lambda d: d.get("@timestamp") or "~")
            for name in ("source.ip", "source.port", "destination.ip", "destination.port"):
                if name in first:
                    doc[name] = first[name]
            if "@timestamp" in first:
                doc["@timestamp"] = first["@timestamp"]
            doc["pcaptotal.flow_id"] = [d["event.id"] for d in flows]
            doc["pcaptotal.flow_key"] = [d["pcaptotal.flow_key"] for d in flows]
            cids = [d["network.community_id"] for d in flows if "network.community_id" in d]
            if cids:
                doc["network.community_id"] = list(dict.fromkeys(cids))
        yield doc


class _BySize:
    """The candidate flows of one file name by the body sizes their HTTP messages had: a
    file goes on the one flow whose messages had its size, else on every candidate. Indexed
    once per name: N copies of a name over M flows (a bot beaconing to one URL) were N x M
    lookups."""

    def __init__(self, builder: FlowBuilder, keys: list[str]) -> None:
        self._all = keys
        self._by_size: dict[int, list[str]] = {}
        for key in keys:
            sizes = dict.fromkeys(builder.flow_values(key, "http.response.body.bytes"))
            sizes.update(dict.fromkeys(builder.flow_values(key, "http.request.body.bytes")))
            for size in sizes:
                self._by_size.setdefault(size, []).append(key)

    def keys(self, size: int) -> list[str]:
        sized = self._by_size.get(size, [])
        return sized if len(sized) == 1 else self._all
