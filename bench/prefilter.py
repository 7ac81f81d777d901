"""Measures the issue-12 "prefilter" idea before building it: how much of a flow-heavy capture
tshark would not need to see, and how much tshark time that saves.

The classifier below reads raw headers only (standard library, like ``partition``) and marks a
packet *withheld* when no fact or summary number needs tshark's dissection of it:

- a TCP conversation is *sealed* once each direction has sent a segment that starts with a TLS
  application_data record (``17 03 0x``) after the conversation showed a TLS handshake record
  (``16 03 0x``) at a segment start, or once each direction has sent its SSH banner
  (``SSH-``); after that every packet of it is withheld except SYNs (tshark 4.0 starts a new
  ``tcp.stream`` on a SYN whose sequence number differs from the conversation's base, so
  SYNs must reach it for the stream numbers to stay its own);
- before sealing, a TCP segment without payload and without SYN/FIN/RST (a pure ACK or a
  window update) is withheld once its direction already has a kept packet other than a SYN
  (that packet gives the flow its orientation and MAC, and the handshake's ACK gives tshark
  its first RTT) and when its sequence number is the direction's next expected one (a bare ACK
  ahead of the data makes tshark call the data a retransmission and skip its dissection:
  corelight_agenttesla-ftp-exfil frame 123);
- a UDP conversation that showed a QUIC long-header packet (version 1, 2 or a draft) has its
  later short-header (1-RTT) packets withheld: tshark cannot decrypt them and reads nothing
  from them.

- ARP and 802.3/LLC frames that are not SNAP (STP, ...): in no flow and without facts, they
  only count in the capture's packets and bytes, which the splitter counts itself.

Everything else is kept: non-IP, IP fragments, ICMP, tunnels, DNS, HTTP, SMTP, FTP, unknown
protocols, every packet of a conversation before it is sealed. The kept packets are written to
a pcap and tshark (the parser's own invocation: fields + export objects) runs over the full
capture and the kept subset, alternately, ``--runs`` times each (the machine is shared: the
medians and their ratio are what to read). This script does NOT check that the parser's
output on the subset plus counted packets equals the full pass: see docs/architecture.md for
what that takes.

Run: ``python bench/prefilter.py [--mb 200] [--runs 3]``; ``--check`` instead checks the rules
on the shared captures with tshark (see ``check``); ``--fields-cost`` and ``--export-cost``
measure where tshark's CPU goes (fields, export objects) on the same capture. Last line:
``withheld_packets=.. withheld_bytes=.. tshark_full_cpu_s=.. tshark_kept_cpu_s=..
tshark_cpu_ratio=.. tshark_wall_ratio=.. classify_cpu_s=..`` (medians; CPU seconds are the
steadier figure on a shared machine).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for sub in ("shared", "services/parser", "bench"):
    sys.path.insert(0, str(REPO / sub))

from flowheavy import build  # noqa: E402
from pcaptotal_parser.carving import export_arguments  # noqa: E402
from pcaptotal_parser.columns import FAST_FIELDS, FIELDS, INDEX, SEPARATOR  # noqa: E402
from pcaptotal_parser.layers import plan  # noqa: E402
from pcaptotal_parser.tshark import tshark_command  # noqa: E402

_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_QUIC_VERSIONS = frozenset({0x00000001, 0x6B3343CF}) | {0xFF000000 + d for d in range(17, 35)}
SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


class _Conv:
    """One TCP/UDP conversation epoch, as the classifier tracks it."""

    __slots__ = ("base_seq", "first", "kept_dirs", "next_seq", "quic", "sealed", "tls")

    def __init__(self, first: bytes) -> None:
        self.first = first  # the first sender's (address, port): direction 0
        self.base_seq: list[int | None] = [None, None]
        self.tls = False  # a TLS handshake record was seen at a segment start
        self.sealed = [False, False]  # per direction: application data / SSH banner seen
        self.kept_dirs = [False, False]  # a packet other than a SYN was kept
        # per direction, the highest seq + length (+1 for SYN/FIN) so far: tshark's "next
        # expected sequence number", which decides what it calls a retransmission
        self.next_seq: list[int | None] = [None, None]
        self.quic = False


def _transport(frame: bytes) -> tuple[int, bytes, bytes, int, int] | None:
    """(protocol, source, destination, transport offset, IP end) of a plain Ethernet (VLAN)
    IPv4/IPv6 frame that is not a fragment; ``None`` for anything else."""
    if len(frame) < 14:
        return None
    off = 14
    etype = frame[12] << 8 | frame[13]
    while etype in _VLAN and off + 4 <= len(frame):
        etype = frame[off + 2] << 8 | frame[off + 3]
        off += 4
    if etype == 0x0800 and off + 20 <= len(frame) and frame[off] >> 4 == 4:
        ihl = (frame[off] & 0x0F) * 4
        if frame[off + 6] & 0x3F or frame[off + 7]:  # MF or a fragment offset
            return None
        total = frame[off + 2] << 8 | frame[off + 3]
        return (
            frame[off + 9],
            frame[off + 12 : off + 16],
            frame[off + 16 : off + 20],
            off + ihl,
            off + total,
        )
    if etype == 0x86DD and off + 40 <= len(frame) and frame[off] >> 4 == 6:
        plen = frame[off + 4] << 8 | frame[off + 5]
        nxt = frame[off + 6]
        if nxt not in (6, 17):  # extension headers: keep (fragments hide behind them)
            return None
        return nxt, frame[off + 8 : off + 24], frame[off + 24 : off + 40], off + 40, off + 40 + plen
    return None


def _conversation(frame: bytes) -> tuple[int, bytes, bytes] | None:
    """The unordered (protocol, address + port, address + port) of a plain TCP/UDP frame."""
    got = _transport(frame)
    if got is None or got[0] not in (6, 17) or got[3] + 4 > len(frame):
        return None
    proto, src, dst, t, _ = got
    low, high = sorted((src + frame[t : t + 2], dst + frame[t + 2 : t + 4]))
    return proto, low, high


class Classifier:
    def __init__(self) -> None:
        self.convs: dict[tuple[int, bytes, bytes], _Conv] = {}
        self.why: Counter[str] = Counter()
        self.why_bytes: Counter[str] = Counter()

    def withhold(self, frame: bytes, wire_len: int) -> bool:
        reason = self._reason(frame)
        self.why[reason] += 1
        self.why_bytes[reason] += wire_len
        return not reason.startswith("keep")

    def _reason(self, frame: bytes) -> str:
        if len(frame) >= 17:
            etype = frame[12] << 8 | frame[13]
            if etype == 0x0806:
                return "withhold:arp"
            if etype <= 1500 and frame[14] != 0xAA:  # 802.3 + LLC, not SNAP (STP, CDP, ...)
                return "withhold:llc"
        got = _transport(frame)
        if got is None:
            return "keep:not plain tcp/udp"
        proto, src, dst, t, ip_end = got
        ip_end = min(ip_end, len(frame))
        if proto == 6:
            if t + 20 > ip_end:
                return "keep:short tcp"
            sport, dport, seq = struct.unpack_from(">HHI", frame, t)
            flags = frame[t + 13]
            payload = frame[t + (frame[t + 12] >> 4) * 4 : ip_end]
            me, peer = src + sport.to_bytes(2, "big"), dst + dport.to_bytes(2, "big")
            key = (6, *sorted((me, peer)))
            conv = self.convs.get(key)
            syn_only = flags & (SYN | ACK) == SYN
            if conv is None:
                conv = self.convs[key] = _Conv(me)
            rev = int(me != conv.first)
            base = conv.base_seq[rev]
            if syn_only and base is not None and seq != base:  # tshark: ports reused
                conv = self.convs[key] = _Conv(me)
                rev = 0
            if conv.base_seq[rev] is None:
                conv.base_seq[rev] = seq
            expected = conv.next_seq[rev]
            advanced = seq + len(payload) + (1 if flags & (SYN | FIN) else 0)
            if expected is None or 0 < (advanced - expected) % 2**32 < 2**31:
                conv.next_seq[rev] = advanced % 2**32
            if flags & SYN:
                return "keep:syn"
            if all(conv.sealed):
                return "withhold:sealed tcp"
            if payload[:1] == b"\x16" and payload[1:2] == b"\x03":
                conv.tls = True
            elif (conv.tls and payload[:2] == b"\x17\x03") or payload[:4] == b"SSH-":
                conv.sealed[rev] = True
            if (
                not payload
                and not flags & (FIN | RST)
                and conv.kept_dirs[rev]
                and seq == expected  # it does not move tshark's next expected seq
            ):
                return "withhold:pure ack"
            conv.kept_dirs[rev] = True
            return "keep:tcp before seal"
        if proto == 17:
            if t + 8 > ip_end:
                return "keep:short udp"
            sport, dport = struct.unpack_from(">HH", frame, t)
            payload = frame[t + 8 : ip_end]
            me, peer = src + sport.to_bytes(2, "big"), dst + dport.to_bytes(2, "big")
            key = (17, *sorted((me, peer)))
            conv = self.convs.get(key)
            if conv is None:
                conv = self.convs[key] = _Conv(me)
            if payload and payload[0] & 0xC0 == 0xC0 and len(payload) >= 5:
                if int.from_bytes(payload[1:5], "big") in _QUIC_VERSIONS:
                    conv.quic = True
                return "keep:udp"
            if conv.quic and payload and payload[0] & 0xC0 == 0x40:
                return "withhold:quic short header"
            return "keep:udp"
        return "keep:other ip"


def classify(capture: Path, kept_path: Path) -> tuple[Classifier, int, int, float]:
    """Write the kept packets of ``capture`` (classic pcap, Ethernet) to ``kept_path``."""
    started = time.process_time()
    data = capture.read_bytes()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF != 1:
        raise SystemExit("the flow-heavy capture is expected to be Ethernet")
    record = struct.Struct(order + "8xII")
    classifier = Classifier()
    out = [data[:24]]
    pos, packets, total_bytes = 24, 0, 0
    while pos + 16 <= len(data):
        caplen, wire = record.unpack_from(data, pos)
        stop = pos + 16 + caplen
        packets += 1
        total_bytes += wire
        if not classifier.withhold(data[pos + 16 : stop], wire):
            out.append(data[pos:stop])
        pos = stop
    kept_path.write_bytes(b"".join(out))
    return classifier, packets, total_bytes, time.process_time() - started


def _rows(capture: Path) -> list[str]:
    out = subprocess.run(
        tshark_command("tshark", capture), capture_output=True, text=True, check=False
    ).stdout
    return out.split("\n")[:-1]


def check(capture: Path, work: Path) -> tuple[list[str], int, int]:
    """What withholding would change on ``capture`` (an Ethernet pcap), checked with tshark:
    each kept packet's row must be the row the full pass gives it (same stream numbers, same
    fields: withholding changed no dissection), and each withheld packet's row must carry no
    fact column, no application protocol its stream's kept packets lack, and the stream of the
    last kept packet of its 5-tuple (so the splitter can attach it). Returns the problems."""
    kept_path = work / f"{capture.stem}.kept.pcap"
    data = capture.read_bytes()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    record = struct.Struct(order + "8xII")
    classifier = Classifier()
    out, keep_flags, keys = [data[:24]], [], []
    pos = 24
    while pos + 16 <= len(data):
        caplen, wire = record.unpack_from(data, pos)
        frame = data[pos + 16 : pos + 16 + caplen]
        withheld = classifier.withhold(frame, wire)
        keep_flags.append(not withheld)
        keys.append(_conversation(frame))
        if not withheld:
            out.append(data[pos : pos + 16 + caplen])
        pos += 16 + caplen
    kept_path.write_bytes(b"".join(out))
    full, kept = _rows(capture), _rows(kept_path)
    problems: list[str] = []
    if len(full) != len(keep_flags) or len(kept) != sum(keep_flags):
        problem = f"{capture.name}: row counts {len(full)}/{len(kept)} do not match the packets"
        return [problem], 0, len(keep_flags)
    stream_cols = [INDEX["tcp.stream"], INDEX["udp.stream"]]
    apps: dict[str, set[str]] = {}
    last_stream: dict[object, str] = {}
    j = 0
    for i, (row, was_kept) in enumerate(zip(full, keep_flags, strict=True)):
        cols = row.split(SEPARATOR)
        stream = "/".join(cols[c] for c in stream_cols)
        names = plan(cols[INDEX["frame.protocols"]]).apps
        if was_kept:
            if kept[j] != row:
                other = kept[j].split(SEPARATOR)
                differ = [FIELDS[c] for c, value in enumerate(other) if value != cols[c]]
                problems.append(f"{capture.name} frame {i + 1}: kept row differs in {differ}")
            j += 1
            apps.setdefault(stream, set()).update(names)
            if keys[i] is not None:
                last_stream[keys[i]] = stream
            continue
        if keys[i] is not None and last_stream.get(keys[i]) != stream:
            expected = last_stream.get(keys[i])
            problems.append(
                f"{capture.name} frame {i + 1}: withheld, stream {stream} is not "
                f"its 5-tuple's last kept stream {expected}"
            )
        if any(cols[INDEX["dns.id"] :]):
            problems.append(f"{capture.name} frame {i + 1}: withheld but has fact columns")
        if not set(names) <= apps.get(stream, set()):
            problems.append(f"{capture.name} frame {i + 1}: withheld, new protocols {names}")
    return problems, keep_flags.count(False), len(keep_flags)


def tshark_seconds(
    capture: Path, objects: Path | None, fields: int | None = None
) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one tshark pass: the parser's invocation,
    without export objects when ``objects`` is None, with only the first ``fields`` fields
    when given. On a loaded machine the CPU seconds are the steadier measure of the work."""
    cmd = tshark_command("tshark", capture, export_arguments(objects) if objects else [])
    if fields is not None:  # drop the "-e name" pairs after the first ``fields``
        first = cmd.index("-e")
        cmd = cmd[: first + 2 * fields] + cmd[first + 2 * len(FIELDS) :]
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.monotonic() - started, cpu


def _check_shared() -> None:
    with tempfile.TemporaryDirectory(prefix="prefilter-check-") as tmp:
        work = Path(tmp)
        for path in sorted((REPO / "tests" / "data" / "pcaps").glob("*.pcap*")):
            plain = work / f"{path.stem}.pcap"
            subprocess.run(["editcap", "-F", "pcap", str(path), str(plain)], capture_output=True)
            info = subprocess.run(["capinfos", "-E", "-T", "-M", "-r", str(plain)],
                                  capture_output=True, text=True).stdout.strip()  # fmt: skip
            if not plain.exists() or not info.endswith("ether"):
                print(f"{path.name}: skipped (not an Ethernet capture)")
                continue
            problems, withheld, packets = check(plain, work)
            print(f"{path.name}: withheld {withheld}/{packets}, {len(problems)} problems")
            for problem in problems[:5]:
                print("   ", problem)


def _fields_cost(capture: Path, runs: int) -> None:
    # name -> (export objects, fields): the parser's invocation, without export, counting only
    variants: dict[str, tuple[bool, int | None]] = {
        "parser": (True, None),
        "no_export": (False, None),
        "head_fields": (False, FAST_FIELDS),
    }
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="prefilter-fields-") as tmp:
        for run in range(runs):  # interleaved, so load changes hit all alike
            for name, (export, fields) in variants.items():
                objects = Path(tmp) / f"objects-{run}" if export else None
                wall, seconds = tshark_seconds(capture, objects, fields)
                cpu[name].append(seconds)
                print(f"  run {run + 1}: {name} {wall:.1f} s ({seconds:.1f} s CPU)", flush=True)
    base = statistics.median(cpu["parser"])
    print(" ".join(f"{n}_cpu_s={statistics.median(v):.1f}" for n, v in cpu.items()), end=" ")
    print(" ".join(f"{n}_ratio={statistics.median(v) / base:.3f}" for n, v in cpu.items()))


# ports of the protocols tshark exports objects from (HTTP, FTP, SMTP, SMB, NetBIOS, TFTP)
OBJECT_PORTS = frozenset({80, 8080, 20, 21, 25, 587, 445, 139, 69})


def _export_cost(capture: Path, runs: int) -> None:
    """Export objects' share of tshark's CPU on the capture without the object protocols'
    ports: does it follow the objects, or tax every packet?"""
    with tempfile.TemporaryDirectory(prefix="prefilter-export-") as tmp:
        subset = Path(tmp) / "no-object-ports.pcap"
        data = capture.read_bytes()
        out, pos = [data[:24]], 24
        while pos + 16 <= len(data):
            stop = pos + 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
            frame = data[pos + 16 : stop]
            got = _transport(frame)
            ports: set[int] = set()
            if got is not None and got[3] + 4 <= len(frame):
                t = got[3]
                ports = {frame[t] << 8 | frame[t + 1], frame[t + 2] << 8 | frame[t + 3]}
            if not ports & OBJECT_PORTS:
                out.append(data[pos:stop])
            pos = stop
        subset.write_bytes(b"".join(out))
        print(f"  subset without object ports: {len(out) - 1} packets", flush=True)
        cpu: dict[str, list[float]] = {"parser": [], "no_export": []}
        for run in range(runs):
            for name in cpu:
                objects = Path(tmp) / f"objects-{run}" if name == "parser" else None
                wall, seconds = tshark_seconds(subset, objects)
                cpu[name].append(seconds)
                print(f"  run {run + 1}: {name} {wall:.1f} s ({seconds:.1f} s CPU)", flush=True)
    with_export, without = (statistics.median(v) for v in cpu.values())
    print(f"subset_parser_cpu_s={with_export:.1f} subset_no_export_cpu_s={without:.1f} "
          f"subset_no_export_ratio={without / with_export:.3f}")  # fmt: skip


def _routing(capture: Path, runs: int) -> None:
    """The prefilter plus routing by port: the object protocols' packets to a tshark with
    export objects, the kept rest to one without; their CPU summed against one full pass."""
    with tempfile.TemporaryDirectory(prefix="prefilter-routing-") as tmp:
        objects_part, rest_part = Path(tmp) / "objects.pcap", Path(tmp) / "rest.pcap"
        data = capture.read_bytes()
        classifier = Classifier()
        header = data[:24]
        with_objects, rest, pos = [header], [header], 24
        while pos + 16 <= len(data):
            stop = pos + 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
            frame = data[pos + 16 : stop]
            withheld = classifier.withhold(
                frame, int.from_bytes(data[pos + 12 : pos + 16], "little")
            )
            got = _transport(frame)
            ports: set[int] = set()
            if got is not None and got[3] + 4 <= len(frame):
                t = got[3]
                ports = {frame[t] << 8 | frame[t + 1], frame[t + 2] << 8 | frame[t + 3]}
            if ports & OBJECT_PORTS:
                with_objects.append(data[pos:stop])  # all of it: carving needs every segment
            elif not withheld:
                rest.append(data[pos:stop])
            pos = stop
        objects_part.write_bytes(b"".join(with_objects))
        rest_part.write_bytes(b"".join(rest))
        print(f"  object ports: {len(with_objects) - 1} packets, kept rest: {len(rest) - 1}")
        full: list[float] = []
        routed: list[float] = []
        for run in range(runs):
            full.append(tshark_seconds(capture, Path(tmp) / f"full-{run}")[1])
            a = tshark_seconds(objects_part, Path(tmp) / f"objects-{run}")[1]
            b = tshark_seconds(rest_part, None)[1]
            routed.append(a + b)
            print(
                f"  run {run + 1}: full {full[-1]:.1f} s CPU, objects {a:.1f} + rest {b:.1f} s CPU",
                flush=True,
            )
    f, r = statistics.median(full), statistics.median(routed)
    print(f"full_cpu_s={f:.1f} routed_cpu_s={r:.1f} routed_ratio={r / f:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--capture", type=Path, help="another classic Ethernet pcap")
    ap.add_argument("--check", action="store_true", help="check the rules on the shared captures")
    ap.add_argument(
        "--fields-cost",
        action="store_true",
        help="tshark CPU on the full capture: the parser's invocation, without export objects, "
        "and with only the leading columns a packet's counting needs",
    )
    ap.add_argument(
        "--export-cost",
        action="store_true",
        help="export objects' CPU share on the capture without the object protocols' ports",
    )
    ap.add_argument(
        "--routing",
        action="store_true",
        help="prefilter + object protocols to a tshark with export objects, the rest without",
    )
    args = ap.parse_args()
    if args.routing:
        _routing(args.capture or build(args.mb), args.runs)
        return
    if args.export_cost:
        _export_cost(args.capture or build(args.mb), args.runs)
        return
    if args.fields_cost:
        _fields_cost(args.capture or build(args.mb), args.runs)
        return
    if args.check:
        _check_shared()
        return
    capture = args.capture or build(args.mb)
    with tempfile.TemporaryDirectory(prefix="prefilter-") as tmp:
        kept = Path(tmp) / "kept.pcap"
        classifier, packets, total, classify_s = classify(capture, kept)
        withheld = sum(n for r, n in classifier.why.items() if r.startswith("withhold"))
        withheld_b = sum(n for r, n in classifier.why_bytes.items() if r.startswith("withhold"))
        print(f"capture {capture} packets={packets} bytes={total} classify {classify_s:.1f} s CPU")
        for reason, n in classifier.why.most_common():
            print(f"  {reason:28} packets={n:8} ({n / packets:6.1%}) "
                  f"bytes={classifier.why_bytes[reason] / total:6.1%}")  # fmt: skip
        full: list[tuple[float, float]] = []
        part: list[tuple[float, float]] = []
        for run in range(args.runs):  # alternate, so load changes hit both alike
            full.append(tshark_seconds(capture, Path(tmp) / f"objects-full-{run}"))
            part.append(tshark_seconds(kept, Path(tmp) / f"objects-kept-{run}"))
            print(
                f"  run {run + 1}: tshark full {full[-1][0]:.1f} s ({full[-1][1]:.1f} s CPU), "
                f"kept {part[-1][0]:.1f} s ({part[-1][1]:.1f} s CPU)",
                flush=True,
            )
    if not full:
        return
    f_cpu, k_cpu = (statistics.median(c for _, c in runs) for runs in (full, part))
    f_wall, k_wall = (statistics.median(w for w, _ in runs) for runs in (full, part))
    print(
        f"withheld_packets={withheld / packets:.3f} withheld_bytes={withheld_b / total:.3f} "
        f"tshark_full_cpu_s={f_cpu:.1f} tshark_kept_cpu_s={k_cpu:.1f} "
        f"tshark_cpu_ratio={k_cpu / f_cpu:.3f} tshark_wall_ratio={k_wall / f_wall:.3f} "
        f"classify_cpu_s={classify_s:.1f}"
    )


if __name__ == "__main__":
    main()
