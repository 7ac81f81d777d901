"""Threat-intel matching benchmark: 1,000,000 indicators, >= 200k flows.

Writes feeds in realistic proportions into a temp dir (plain lists, URLhaus / Feodo / ThreatFox
/ SSLBL CSVs), loads them into one IndicatorSet, then matches synthetic flow documents
(DNS, TLS, HTTP and bare connections; about 10 % touch an indicator).

Memory: ``rss_mb`` is the process's peak RSS (VmHWM) right after loading, before the flows
are generated — interpreter and imports included; the increase over the pre-load RSS (what
the set costs) is printed above it. Goals: >= 100k flows/s, <= 10 s load, <= 500 MB.

    python bench/intel.py [--indicators N] [--flows N]

The last line is exactly ``flows_per_s=N load_s=S rss_mb=M``; N and S are computed from the
process's CPU time (the wall-clock figures are printed above it), so that a busy shared machine
does not skew them.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from pcaptotal_enricher.intel.indicator_set import IndicatorSet

# Share of the indicators per kind (sums to 1).
MIX = {
    "ipv4": 0.33,
    "ipv6": 0.03,
    "cidr": 0.02,
    "feodo": 0.02,
    "domain": 0.22,
    "threatfox": 0.05,
    "url": 0.20,
    "sha256": 0.08,
    "md5": 0.03,
    "sha1": 0.01,
    "ja3": 0.01,
}
TLDS = ["com", "net", "org", "ru", "cn", "xyz", "top", "info", "io", "de"]
FAMILIES = ["Emotet", "QakBot", "Dridex", "TrickBot", "IcedID", "AsyncRAT", "Cobalt Strike"]


def vm(field: str) -> float:
    """A /proc/self/status memory line (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def ipv4(self) -> str:
        return str(ipaddress.IPv4Address(self.r.randrange(1 << 24, 0xDF000000)))

    def ipv6(self) -> str:
        return str(ipaddress.IPv6Address((0x2001 << 112) | self.r.getrandbits(100)))

    def label(self) -> str:
        return "".join(
            self.r.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=self.r.randint(5, 14))
        )

    def domain(self) -> str:
        return f"{self.label()}.{self.r.choice(TLDS)}"

    def url(self) -> str:
        path = "/".join(self.label() for _ in range(self.r.randint(1, 3)))
        return f"http://{self.domain()}/{path}.{self.r.choice(['exe', 'php', 'bin', 'sh'])}"

    def hexdigest(self, n: int) -> str:
        return f"{self.r.getrandbits(n * 4):0{n}x}"


def write_feeds(directory: Path, total: int, g: Gen) -> dict[str, list[str]]:
    """Write the feeds; return a sample of the values of each kind (for flow hits)."""
    n = {kind: int(total * share) for kind, share in MIX.items()}
    samples: dict[str, list[str]] = {}

    def keep(kind: str, value: str) -> str:
        bucket = samples.setdefault(kind, [])
        if len(bucket) < 5000:
            bucket.append(value)
        return value

    with (directory / "ips.txt").open("w") as f:
        f.write("# bench IP list\n")
        f.writelines(keep("ipv4", g.ipv4()) + "\n" for _ in range(n["ipv4"]))
        f.writelines(keep("ipv6", g.ipv6()) + "\n" for _ in range(n["ipv6"]))
    with (directory / "networks.txt").open("w") as f:
        for _ in range(n["cidr"]):
            prefix = g.r.choice([16, 20, 22, 24, 24, 24, 28])
            net = ipaddress.ip_network(f"{g.ipv4()}/{prefix}", strict=False)
            f.write(f"{keep('cidr', str(net))}\n")
    with (directory / "feodo.csv").open("w") as f:
        f.write('"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n')
        for _ in range(n["feodo"]):
            ip, fam = keep("ipv4", g.ipv4()), g.r.choice(FAMILIES)
            f.write(f'"2025-12-30 13:56:31","{ip}","443","online","2026-03-12","{fam}"\n')
    with (directory / "domains.txt").open("w") as f:
        f.writelines(keep("domain", g.domain()) + "\n" for _ in range(n["domain"]))
    with (directory / "threatfox.csv").open("w") as f:
        f.write('# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware",'
                '"malware_alias","malware_printable","last_seen_utc","confidence_level",'
                '"is_compromised","reference","tags","anonymous","reporter"\n')  # fmt: skip
        for i in range(n["threatfox"]):
            d, fam = keep("domain", g.domain()), g.r.choice(FAMILIES)
            f.write(f'"2026-07-04 21:46:30", "{i}", "{d}", "domain", "botnet_cc", "win.x", "", '
                    f'"{fam}", "", "75", "0", "", "c2", "0", "reporter1"\n')  # fmt: skip
        f.write(f"# Number of entries: {n['threatfox']}\n")
    with (directory / "urlhaus.csv").open("w") as f:
        f.write("# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n")
        for i in range(n["url"]):
            u = keep("url", g.url())
            tags, link = f"exe,{g.r.choice(FAMILIES)}", f"https://urlhaus.abuse.ch/url/{i}/"
            f.write(f'"{i}","2026-08-27 10:00:00","{u}","online","","malware_download",'
                    f'"{tags}","{link}","r"\n')  # fmt: skip
    with (directory / "file-hashes.txt").open("w") as f:
        f.writelines(keep("sha256", g.hexdigest(64)) + "\n" for _ in range(n["sha256"]))
        f.writelines(keep("md5", g.hexdigest(32)) + "\n" for _ in range(n["md5"]))
        f.writelines(keep("sha1", g.hexdigest(40)) + "\n" for _ in range(n["sha1"]))
    with (directory / "ja3_fingerprints.csv").open("w") as f:
        f.write("# abuse.ch SSLBL JA3\n# ja3_md5,Firstseen,Lastseen,Listingreason\n")
        for _ in range(n["ja3"]):
            f.write(
                f"{keep('ja3', g.hexdigest(32))},2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex\n"
            )
    return samples


def make_flows(count: int, samples: dict[str, list[str]], g: Gen) -> list[dict[str, Any]]:
    r = g.r

    def pick(kind: str, fresh: str) -> str:
        return r.choice(samples[kind]) if r.random() < 0.03 else fresh  # ~3 % per field hit

    flows: list[dict[str, Any]] = []
    for i in range(count):
        kind = r.random()
        dst = pick("ipv4", g.ipv4())
        flow: dict[str, Any] = {
            "pcaptotal.flow_key": f"tcp-{i}",
            "source.ip": f"192.168.{i % 250}.{i % 200 + 2}",
            "source.port": 40000 + i % 20000,
            "destination.ip": dst,
            "network.transport": "tcp",
            "network.bytes": 1000 + i,
            "network.packets": 10,
        }
        if kind < 0.35:
            name = pick("domain", g.domain())
            flow.update(
                {
                    "destination.ip": "192.168.1.1",
                    "destination.port": 53,
                    "network.transport": "udp",
                    "network.protocol": ["dns"],
                    "dns.question.name": [f"www.{name}" if r.random() < 0.5 else name],
                    "dns.answers.data": [g.ipv4()],
                }
            )
        elif kind < 0.65:
            flow.update(
                {
                    "destination.port": 443,
                    "network.protocol": ["tls"],
                    "tls.client.server_name": [pick("domain", g.domain())],
                    "tls.client.ja3": [pick("ja3", g.hexdigest(32))],
                    "tls.server.ja3s": [g.hexdigest(32)],
                }
            )
        elif kind < 0.85:
            url = pick("url", g.url())
            host, _, path = url[len("http://") :].partition("/")
            flow.update(
                {
                    "destination.port": 80,
                    "network.protocol": ["http"],
                    "url.domain": [host],
                    "url.original": [f"/{path}"],
                    "user_agent.original": ["Mozilla/5.0 (Windows NT 10.0; Win64; x64)"],
                    "file.hash.sha256": [pick("sha256", g.hexdigest(64))],
                }
            )
        flows.append(flow)
    return flows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=250_000)
    args = parser.parse_args()
    g = Gen(42)
    with tempfile.TemporaryDirectory(prefix="pcaptotal-intel-bench-") as tmp:
        directory = Path(tmp)
        samples = write_feeds(directory, args.indicators, g)
        rss_before = vm("VmRSS")
        started, cpu_started = time.perf_counter(), time.process_time()
        indicators = IndicatorSet()
        for path in sorted(directory.iterdir()):
            indicators.add_feed(path)
        load_s, load_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak = vm("VmHWM")
        after = vm("VmRSS")
    for stats in indicators.feeds.values():
        print(f"  {stats.name}: {stats.indicators} indicators {stats.by_type} "
              f"malformed={stats.malformed}")  # fmt: skip
    print(f"distinct values indexed: {len(indicators)}")
    print(f"rss before load {rss_before:.0f} MB, after {after:.0f} MB "
          f"(set: +{after - rss_before:.0f} MB), peak {peak:.0f} MB")  # fmt: skip

    flows = make_flows(args.flows, samples, g)
    match = indicators.match_flow
    match(flows[0])  # warm the cached plan
    started, cpu_started = time.perf_counter(), time.process_time()
    flows_hit = sum(1 for flow in flows if match(flow))
    match_s, match_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"{len(flows)} flows matched in {match_s:.2f} s wall, {match_cpu:.2f} s CPU; "
          f"{flows_hit} with hits ({len(flows) / match_s:.0f} flows/s wall)")  # fmt: skip
    print(f"load: {load_s:.2f} s wall, {load_cpu:.2f} s CPU")
    # CPU time: the figures must not depend on what else the (shared) machine is running.
    print(f"flows_per_s={len(flows) / match_cpu:.0f} load_s={load_cpu:.2f} rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
