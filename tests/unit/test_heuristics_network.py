"""Port scan, host sweep, unexpected ports, unknown protocols, long / large flows."""

from __future__ import annotations

from typing import Any

from pcaptotal_enricher.heuristics import DetectionConfig, Severity
from pcaptotal_enricher.heuristics.ports import unexpected_ports, unknown_protocol
from pcaptotal_enricher.heuristics.scan import failed, host_sweep, port_scan
from pcaptotal_enricher.heuristics.volume import large_outbound, long_connections

CFG = DetectionConfig()
SYN_ONLY = {"pcaptotal.tcp_flags": ["SYN"], "destination.packets": 0}
OK = {"pcaptotal.tcp_flags": ["SYN", "PSH", "ACK", "FIN"], "destination.packets": 5}


def tcp(i: int, dst: str, dport: int, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": f"cap-tcp-{i}",
        "source.ip": "192.168.2.16",
        "source.port": 50000 + i,
        "destination.ip": dst,
        "destination.port": dport,
        "network.transport": "tcp",
        "source.packets": 3,
    }
    doc.update(kw)
    return doc


def test_failed_attempts() -> None:
    assert failed(tcp(0, "1.2.3.4", 23, **SYN_ONLY))
    refused = {"pcaptotal.tcp_flags": ["SYN", "RST", "ACK"], "destination.packets": 1}
    assert failed(tcp(1, "1.2.3.4", 23, **refused))
    assert not failed(tcp(2, "1.2.3.4", 23, **OK))


def test_host_sweep_with_numbers() -> None:
    flows = [tcp(i, f"45.12.{i}.7", 23, **SYN_ONLY) for i in range(20)]
    flows.append(tcp(99, "45.12.99.7", 23, **OK))
    [f] = host_sweep(flows, CFG)
    assert f.severity is Severity.HIGH and f.name == "host-sweep"
    assert "tcp/23 on 21 different hosts" in f.explanation
    assert "20 of 21 attempts (95%)" in f.explanation
    assert port_scan(flows, CFG) == []


def test_port_scan_with_numbers() -> None:
    flows = [tcp(i, "10.0.0.9", 1000 + i, **SYN_ONLY) for i in range(30)]
    [f] = port_scan(flows, CFG)
    assert "probed 30 ports on 10.0.0.9" in f.explanation and f.evidence["failed"] == 30


def test_busy_but_successful_client_is_no_scan() -> None:
    flows = [tcp(i, f"93.184.{i}.1", 443, **OK) for i in range(40)]
    dns_answers = [
        {**tcp(100 + i, "192.168.1.5", 40000 + i), "network.transport": "udp", "source.port": 53}
        for i in range(40)
    ]
    assert host_sweep(flows, CFG) == [] and port_scan(dns_answers, CFG) == []


def test_unexpected_ports() -> None:
    tls80 = tcp(0, "93.184.216.34", 80, **{"network.protocol": ["tls"]})
    http_high = tcp(1, "93.184.216.34", 8219, **{"network.protocol": ["http"]})
    ssh443 = tcp(2, "93.184.216.34", 443, **{"network.protocol": ["ssh"]})
    normal = tcp(3, "93.184.216.34", 443, **{"network.protocol": ["tls"]})
    names = {f.name: f for f in unexpected_ports([tls80, http_high, ssh443, normal], CFG)}
    assert set(names) == {"tls-on-http-port", "http-nonstandard-port", "non-tls-on-443"}
    assert "93.184.216.34:8219" in names["http-nonstandard-port"].explanation
    assert names["http-nonstandard-port"].severity is Severity.MEDIUM


def test_unknown_protocol_on_public_nonstandard_port() -> None:
    raw = tcp(0, "185.255.114.40", 8219, **OK, **{"source.bytes": 10808, "destination.bytes": 3708})
    raw["event.duration"] = int(177.5e9)
    [f] = unknown_protocol([raw], CFG)
    assert "185.255.114.40:8219" in f.explanation and "10.8 kB out / 3.7 kB in" in f.explanation
    assert "177.5 s" in f.explanation


def test_unknown_protocol_exclusions() -> None:
    private = tcp(0, "10.1.1.1", 8219, **OK)
    known = tcp(1, "185.255.114.40", 8219, **OK, **{"network.protocol": ["ymsg"]})
    unanswered = tcp(2, "185.255.114.40", 8219, **SYN_ONLY)
    ftp_ctl = tcp(3, "2001:470:4867:99::21", 21, **OK, **{"network.protocol": ["ftp"]})
    ftp_ctl["source.ip"] = "2001:470:1f11:81f::1"
    active_data = tcp(4, "2001:470:1f11:81f::1", 49189, **OK)
    active_data["source.ip"] = "2001:470:4867:99::21"
    flows = [private, known, unanswered, ftp_ctl, active_data]
    assert unknown_protocol(flows, CFG) == []


def test_long_and_large_flows() -> None:
    long = tcp(0, "8.8.4.4", 443, **{"event.duration": int(7200e9)})
    upload = tcp(1, "8.8.4.4", 443, **{"source.bytes": 80_000_000, "destination.bytes": 1_000_000})
    [lf] = long_connections([long, upload], CFG)
    assert "lasted 2.0 h" in lf.explanation and lf.severity is Severity.LOW
    [up] = large_outbound([long, upload], CFG)
    assert "sent 80.0 MB" in up.explanation and "80x more out" in up.explanation
    local = tcp(2, "192.168.0.2", 445, **{"source.bytes": 80_000_000, "event.duration": int(9e12)})
    assert long_connections([local], CFG) == [] and large_outbound([local], CFG) == []
