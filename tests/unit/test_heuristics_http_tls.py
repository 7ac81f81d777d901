"""HTTP (executables, raw IPs, user agents, IP lookup) and TLS certificate heuristics."""

from __future__ import annotations

from typing import Any

from pcaptotal_enricher.heuristics import DetectionConfig, Severity
from pcaptotal_enricher.heuristics.http import (
    executable_download,
    http_raw_ip,
    ip_lookup_service,
    user_agents,
)
from pcaptotal_enricher.heuristics.tls import tls_certificates, tls_without_sni

CFG = DetectionConfig()


def http(i: int, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": f"cap-tcp-{i}",
        "source.ip": "172.16.10.101",
        "destination.ip": "74.120.55.163",
        "destination.port": 80,
        "network.transport": "tcp",
        "network.protocol": ["http"],
        "http.request.method": ["GET"],
        "url.domain": ["example.org"],
        "url.original": ["/"],
        "user_agent.original": ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0"],
        "event.start": "2024-02-27T16:24:00+00:00",
    }
    doc.update(kw)
    return doc


def test_executable_judged_by_content_not_name() -> None:
    exe = http(
        0,
        **{
            "url.original": ["/invoice.pdf"],
            "file.mime_type": ["application/x-dosexec"],
            "file.size": [73802],
            "file.hash.sha256": ["ab" * 32],
        },
    )
    named_exe = http(1, **{"url.original": ["/setup.exe"], "file.mime_type": ["application/pdf"]})
    [f] = executable_download([exe, named_exe], CFG)
    assert f.severity is Severity.HIGH and f.flow_ids == ("cap-tcp-0",)
    assert "application/x-dosexec" in f.explanation and "73.8 kB" in f.explanation
    over_tls = http(2, **{"network.protocol": ["tls"], "file.mime_type": ["text/x-shellscript"]})
    assert executable_download([over_tls], CFG) == []


def test_http_to_raw_public_ip() -> None:
    flows = [
        http(i, **{"url.domain": ["74.120.55.163"], "http.request.method": ["POST"]})
        for i in range(2)
    ]
    [f] = http_raw_ip(flows, CFG)
    assert f.severity is Severity.MEDIUM
    assert "2 HTTP POST request(s)" in f.explanation and "public 74.120.55.163:80" in f.explanation
    no_host = http(5, **{"url.domain": []})
    [g] = http_raw_ip([no_host], CFG)
    assert "no Host header" in g.explanation
    private = http(6, **{"destination.ip": "10.0.0.15", "url.domain": ["10.0.0.15"]})
    assert http_raw_ip([private], CFG)[0].severity is Severity.LOW
    assert http_raw_ip([http(7)], CFG) == []


def test_user_agents() -> None:
    flows = [
        http(0, **{"user_agent.original": ["python-requests/2.32.3"]}),
        http(1, **{"user_agent.original": ["curl/7.68.0"]}),
        http(2, **{"user_agent.original": []}),
        http(3, **{"user_agent.original": ["Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"]}),
        http(4),
        http(5, **{"user_agent.original": ["Microsoft-CryptoAPI/10.0"]}),
    ]
    found = {(f.name, f.evidence["user_agent"]) for f in user_agents(flows, CFG)}
    assert ("scripted-user-agent", "python-requests/2.32.3") in found
    assert ("scripted-user-agent", "curl/7.68.0") in found
    assert ("missing-user-agent", "") in found
    assert any(name == "old-msie-user-agent" for name, _ in found)
    assert len(found) == 4
    assert all(f.severity is Severity.LOW for f in user_agents(flows, CFG))


def test_ip_lookup_service() -> None:
    q = {"_id": "cap-udp-0", "dns.question.name": ["api.ipify.org"]}
    tls = {"_id": "cap-tcp-9", "tls.client.server_name": ["api.ipify.org"]}
    [f] = ip_lookup_service([q, tls, http(1)], CFG)
    assert "api.ipify.org" in f.explanation and "2 flow(s)" in f.explanation
    assert ip_lookup_service([http(1)], CFG) == []


def tls(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "cap-tcp-0",
        "source.ip": "192.168.100.124",
        "destination.ip": "181.131.218.39",
        "destination.port": 4041,
        "network.transport": "tcp",
        "network.protocol": ["tls"],
        "event.start": "2024-02-27T16:24:00+00:00",
        "tls.client.ja3": ["8b79783b7a50d6785ef5365a464f97d1"],
        "tls.server.x509.subject.common_name": ["AsyncRAT Server"],
        "tls.server.x509.subject.distinguished_name": ["CN=AsyncRAT Server"],
        "tls.server.x509.issuer.distinguished_name": ["CN=AsyncRAT Server"],
        "tls.server.x509.not_before": ["2020-05-12T18:45:20+00:00"],
        "tls.server.x509.not_after": ["9999-12-31T23:59:59+00:00"],
    }
    doc.update(kw)
    return doc


def test_self_signed_and_no_sni() -> None:
    names = {f.name: f for f in tls_certificates([tls()], CFG) + tls_without_sni([tls()], CFG)}
    assert set(names) == {"tls-self-signed", "tls-no-sni"}
    assert "AsyncRAT Server" in names["tls-self-signed"].explanation
    assert names["tls-no-sni"].severity is Severity.MEDIUM  # non-TLS port
    on_443 = tls(**{"destination.port": 443})
    assert tls_without_sni([on_443], CFG)[0].severity is Severity.LOW
    with_sni = tls(**{"tls.client.server_name": ["example.org"]})
    no_hello = tls(**{"tls.client.ja3": []})
    private = tls(**{"destination.ip": "127.0.0.1"})
    assert tls_without_sni([with_sni, no_hello, private], CFG) == []
    assert tls_certificates([private], CFG) == []


def test_certificate_dates_are_judged_at_flow_time() -> None:
    ca_signed = {
        "tls.server.x509.issuer.distinguished_name": ["CN=Some CA"],
        "tls.server.x509.not_after": ["2021-01-01T00:00:00+00:00"],
    }
    [f] = tls_certificates([tls(**ca_signed)], CFG)
    assert f.name == "tls-invalid-date" and "expired on 2021-01-01" in f.explanation
    assert "2024-02-27" in f.explanation
    then = tls(**ca_signed, **{"event.start": "2020-06-01T00:00:00+00:00"})
    assert tls_certificates([then], CFG) == []  # valid when the capture was taken
    flagged = tls(**{"tls.server.x509.self_signed": [False]})
    assert tls_certificates([flagged], CFG) == []  # the parser's flag wins over the DNs
