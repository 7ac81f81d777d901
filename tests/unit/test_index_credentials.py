"""Elasticsearch/OpenSearch credentials and CA come from settings (Kubernetes Secrets), not
from the URL: they reach the client, and the password never shows in the settings' repr."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pcaptotal.adapters.es_index import ElasticsearchIndex
from pcaptotal.adapters.factory import make_index
from pcaptotal.settings import Settings


def _ca(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_user_password_and_ca_reach_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PCAPTOTAL_INDEX_USERNAME", "pcaptotal")
    monkeypatch.setenv("PCAPTOTAL_INDEX_PASSWORD", "s3cret-from-a-secret")
    monkeypatch.setenv("PCAPTOTAL_INDEX_CA_FILE", str(_ca(tmp_path / "ca.pem")))
    settings = Settings()
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    index = make_index("https://es.example:9200?prefix=t", settings)
    assert isinstance(index, ElasticsearchIndex)
    client = index._connect()  # builds the client and its TLS context; no request is sent
    expected = base64.b64encode(b"pcaptotal:s3cret-from-a-secret").decode()
    assert client._headers["authorization"] == f"Basic {expected}"
    node = client.transport.node_pool.all()[0]
    assert node.config.ca_certs == str(tmp_path / "ca.pem")


def test_no_credentials_no_auth_header() -> None:
    index = make_index("http://es.example:9200", Settings())
    assert isinstance(index, ElasticsearchIndex)
    assert "authorization" not in index._connect()._headers


def test_a_ca_file_that_is_not_a_certificate_fails_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    monkeypatch.setenv("PCAPTOTAL_INDEX_CA_FILE", str(bad))
    index = make_index("https://es.example:9200", Settings())
    assert isinstance(index, ElasticsearchIndex)
    with pytest.raises(Exception, match=r"(?i)pem|certificate|ssl"):
        index._connect()


def test_secrets_from_a_mounted_directory(tmp_path: Path) -> None:
    """PCAPTOTAL_SECRETS_DIR (a mounted Secret: one file per variable) fills the settings;
    an environment variable wins over its file."""
    (tmp_path / "PCAPTOTAL_BUS_URL").write_text("amqp://u:from-file@rabbitmq:5672/")
    (tmp_path / "PCAPTOTAL_INDEX_PASSWORD").write_text("pw-from-file")
    (tmp_path / "PCAPTOTAL_INDEX_USERNAME").write_text("user-from-file")
    code = (
        "from pcaptotal.settings import Settings; s = Settings(); "
        "print(s.bus_url, s.index_username, s.index_password.get_secret_value())"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PCAPTOTAL_")}
    env |= {"PCAPTOTAL_SECRETS_DIR": str(tmp_path), "PCAPTOTAL_INDEX_USERNAME": "from-env"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["amqp://u:from-file@rabbitmq:5672/", "from-env", "pw-from-file"]
