"""Every playbook ends by warning about a private-CA certificate near its end.

playbooks/expiry.yml only reads files on the controller: the certificates
here are made for the test, one about to expire and one not.
"""

import datetime
import re
from pathlib import Path

import pytest
from ansible_run import ansible_playbook
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID


def certificate(path: Path, days: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, path.stem)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(Encoding.PEM))


@pytest.mark.parametrize(
    ("ca_days", "server_days", "warned"), [(3650, 10, ["server"]), (20, 300, ["CA"]), (3650, 300, [])]
)
def test_a_certificate_near_its_end_is_named_at_the_end_of_a_run(tmp_path, ca_days, server_days, warned):
    pki = tmp_path / "pki"
    pki.mkdir()
    certificate(pki / "ca.pem", ca_days)
    certificate(pki / "server-hub1.pem", server_days)
    (tmp_path / "hosts.yml").write_text(
        f"all:\n  vars:\n    tls_controller_dir: {pki}\n  children:\n    hub:\n      hosts:\n        hub1:\n"
    )
    result = ansible_playbook("-i", str(tmp_path / "hosts.yml"), "playbooks/expiry.yml")
    assert result.returncode == 0, result.stdout[-2000:]
    # The YAML callback wraps long messages: read them as one line each.
    text = re.sub(r"\n\s+", " ", result.stdout)
    warnings = re.findall(r"msg: 'WARNING: (.*?) expires on (.*?)'", text)
    assert len(warnings) == len(warned), result.stdout[-2000:]
    for what, (name, rest) in zip(warned, warnings, strict=True):
        assert ("private CA" if what == "CA" else "hub1''s server certificate") in name
        assert "ansible-playbook site.yml" in rest
