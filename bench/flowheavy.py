"""Flow-heavy capture for the benches: realistic flow density from the shared test captures.

Copies of the shared captures joined as they are repeat the same 5-tuples, so hundreds of
thousands of packets collapse into a few hundred flows and hide every per-flow cost. Here every
copy of the Ethernet captures of ``tests/data/pcaps`` gets its addresses re-randomised by
``tcprewrite --seed=N`` (Debian package ``tcpreplay``) before ``mergecap -a`` joins them, so
each copy adds its own flows (about one flow per 13 packets at 200 MB).

Built once per size and cached under ``$PCAPTOTAL_BENCH_CACHE`` (default
``~/.cache/pcaptotal-bench``); the cache name carries a digest of the inputs, so changed test
captures build a new file. ``python bench/flowheavy.py [--mb 200]`` builds and prints the path.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PCAPS = REPO / "tests" / "data" / "pcaps"
MIB = 1024 * 1024


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "pcaptotal-bench"
    path = Path(os.environ.get("PCAPTOTAL_BENCH_CACHE", str(default)))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _link_type(path: Path) -> str:
    out = subprocess.run(
        ["capinfos", "-E", "-T", "-M", "-r", str(path)], capture_output=True, text=True
    ).stdout.strip()
    return out.split("\t")[-1] if out else ""


def _inputs() -> list[Path]:
    return sorted(p for p in PCAPS.glob("*.pcap*") if p.is_file())


def _digest(inputs: list[Path]) -> str:
    h = hashlib.sha256()
    for path in inputs:
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:12]


def _base(work: Path, inputs: list[Path]) -> Path:
    """The Ethernet captures as one classic pcap (tcprewrite reads pcap; editcap also keeps
    what is readable of the damaged one, where mergecap would stop)."""
    parts: list[str] = []
    for path in inputs:
        fixed = work / f"{path.stem}.pcap"
        subprocess.run(
            ["editcap", "-F", "pcap", str(path), str(fixed)], capture_output=True, check=False
        )
        if fixed.exists() and fixed.stat().st_size > 24 and _link_type(fixed) == "ether":
            parts.append(str(fixed))
    base = work / "base.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-a", "-w", str(base), *parts], check=True)
    return base


def build(mb: int = 200, variant: int = 0) -> Path:
    """The cached flow-heavy capture of at least ``mb`` MiB (built if missing). Another
    ``variant`` uses other seeds: same size and shape, other addresses, other bytes."""
    for tool in ("tcprewrite", "mergecap", "editcap", "capinfos"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} missing: apt-get install -y tcpreplay tshark")
    inputs = _inputs()
    suffix = f"-v{variant}" if variant else ""
    target = cache_dir() / f"flowheavy-{mb}mb-{_digest(inputs)}{suffix}.pcap"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="flowheavy-", dir=cache_dir()) as tmp:
        work = Path(tmp)
        base = _base(work, inputs)
        copies = -(-mb * MIB // base.stat().st_size)
        rewritten: list[str] = []
        first = 1 + variant * 100_000
        for seed in range(first, first + copies):
            out = work / f"copy-{seed}.pcap"
            subprocess.run(
                ["tcprewrite", f"--seed={seed}", f"--infile={base}", f"--outfile={out}"],
                capture_output=True,
                check=True,
            )
            rewritten.append(str(out))
        partial = work / "flowheavy.pcap"
        subprocess.run(["mergecap", "-F", "pcap", "-a", "-w", str(partial), *rewritten], check=True)
        partial.replace(target)  # same file system: atomic, so a crash leaves no half file
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="smallest size in MiB (200 or 1024)")
    print(build(ap.parse_args().mb))


if __name__ == "__main__":
    main()
