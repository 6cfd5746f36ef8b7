"""The tls role on two hubs (tls-private: the private CA; tls-provided: the operator's files) and a client.

The tests run in this file's order: the later ones re-issue tls-private's
certificate and feed tls-provided bad files.
"""

import os
import re
from pathlib import Path

import pytest
from checks import playbook
from cryptography import x509

TLS = "/etc/celery-fleet/tls"
OPERATOR_PKI = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "operator"


def certificate(host) -> x509.Certificate:
    return x509.load_pem_x509_certificate(host.file(f"{TLS}/cert.pem").content)


def names(cert: x509.Certificate) -> set[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {f"DNS:{name}" for name in sans.get_values_for_type(x509.DNSName)} | {
        f"IP:{address}" for address in sans.get_values_for_type(x509.IPAddress)
    }


@pytest.mark.parametrize("hub", ["tls-private", "tls-provided"])
@pytest.mark.parametrize(
    ("path", "mode"),
    [("key.pem", 0o640), ("mongodb.pem", 0o640), ("cert.pem", 0o644), ("ca.pem", 0o644)],
)
def test_keys_are_for_the_service_group_only_certificates_for_all(hosts, hub, path, mode):
    installed = hosts(hub).file(f"{TLS}/{path}")
    assert installed.exists
    assert (installed.user, installed.group, installed.mode) == ("root", "celery-fleet-tls", mode)


@pytest.mark.parametrize("hub", ["tls-private", "tls-provided"])
def test_mongodbs_pem_is_the_full_chain_then_the_key(hosts, hub):
    host = hosts(hub)
    read = {
        name: host.file(f"{TLS}/{name}.pem").content_string for name in ("fullchain", "key", "mongodb", "cert", "chain")
    }
    assert read["mongodb"] == read["fullchain"] + read["key"]
    assert read["fullchain"] == read["cert"] + read["chain"]
    assert read["mongodb"].count("-----BEGIN CERTIFICATE-----") == 2
    assert len(re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", read["mongodb"])) == 1


@pytest.mark.parametrize(
    ("hub", "expected"),
    [
        ("tls-private", {"DNS:tls-private", "DNS:localhost", "IP:127.0.0.1"}),
        ("tls-provided", {"DNS:tls-provided", "DNS:localhost"}),
    ],
)
def test_the_certificate_carries_every_configured_name(hosts, hub, expected):
    assert names(certificate(hosts(hub))) == expected


@pytest.mark.parametrize("hub", ["tls-private", "tls-provided"])
def test_the_ca_key_is_not_on_the_hub(hosts, hub):
    found = hosts(hub).run("find /etc /root /opt -name ca.key")
    assert found.stdout.strip() == ""


@pytest.fixture(scope="module")
def tls_server(hosts):
    """The private-CA hub serves its certificate over TLS on port 8443."""
    hub = hosts("tls-private")
    hub.run(
        "systemd-run --unit=test-tls-server /usr/bin/openssl s_server -quiet -accept 8443 "
        f"-cert {TLS}/cert.pem -key {TLS}/key.pem -cert_chain {TLS}/chain.pem"
    )
    client = hosts("tls-client")
    waited = client.run(
        "python3 -c %s",
        "import socket, time\n"
        "for _ in range(40):\n"
        "    try:\n"
        "        socket.create_connection(('tls-private', 8443), timeout=1).close(); break\n"
        "    except OSError:\n"
        "        time.sleep(0.5)\n"
        "else:\n"
        "    raise SystemExit(1)\n",
    )
    assert waited.rc == 0, "the test TLS server did not start"
    yield
    hub.run("systemctl stop test-tls-server")


def handshake(client, name: str):
    return client.run(
        "echo | openssl s_client -connect tls-private:8443 -CAfile %s -verify_return_error -verify_hostname %s 2>&1",
        f"{TLS}/ca.pem",
        name,
    )


def test_a_client_verifies_the_hub_and_its_name_with_the_delivered_ca(hosts, tls_server):
    result = handshake(hosts("tls-client"), "tls-private")
    assert result.rc == 0 and "Verify return code: 0 (ok)" in result.stdout, result.stdout


def test_a_name_the_certificate_does_not_carry_is_refused(hosts, tls_server):
    assert handshake(hosts("tls-client"), "impostor.example").rc != 0


def test_the_provided_certificate_verifies_through_its_chain_only(hosts):
    provided = hosts("tls-provided")
    # The operator's root, which the hub never gets, goes to /tmp for the check.
    provided.check_output("printf %%s %s > /tmp/provided-root.pem", (OPERATOR_PKI / "root.pem").read_text())
    verify = f"openssl verify -CAfile /tmp/provided-root.pem {{}} {TLS}/cert.pem"
    assert provided.run(verify.format(f"-untrusted {TLS}/chain.pem")).rc == 0
    # Without the chain the certificate does not verify: the chain completes it.
    assert provided.run(verify.format("")).rc != 0


REISSUE = """
- name: Converge again with one more name
  hosts: tls-private
  gather_facts: false
  roles:
    - role: tls
      vars:
        tls_extra_names: [localhost, 127.0.0.1, hub.internal.example]
"""


def test_a_new_name_reissues_the_certificate_and_runs_the_reload_hooks(hosts, inventory, tmp_path):
    hub = hosts("tls-private")
    hub.run("rm -f /root/tls-hook.log")
    hub.check_output(
        "printf '#!/bin/sh\\necho reloaded >> /root/tls-hook.log\\n' > %s && chmod 0755 %s",
        f"{TLS}/reload.d/50-test",
        f"{TLS}/reload.d/50-test",
    )
    before = certificate(hub)
    result = playbook(inventory, REISSUE, tmp_path)
    assert result.returncode == 0, result.stdout
    after = certificate(hub)
    assert after.serial_number != before.serial_number
    assert "DNS:hub.internal.example" in names(after)
    assert "reloaded" in hub.file("/root/tls-hook.log").content_string


def test_one_failing_reload_hook_does_not_keep_the_others_from_running(hosts):
    hub = hosts("tls-private")
    failing = f"{TLS}/reload.d/10-failing"
    hub.check_output("printf '#!/bin/sh\\necho cannot reload >&2\\nexit 3\\n' > %s && chmod 0755 %s", failing, failing)
    hub.run("rm -f /root/tls-hook.log")
    try:
        # What acme.sh runs after a renewal.
        install = hub.run("/usr/local/sbin/celery-fleet-tls-install")
    finally:
        hub.run("rm -f %s", failing)
    assert install.rc != 0
    assert "10-failing" in install.stderr
    assert "reloaded" in hub.file("/root/tls-hook.log").content_string


BAD_PROVIDED = """
- name: Run the tls role with {name}
  hosts: tls-provided
  gather_facts: false
  roles:
    - role: tls
      vars:
        tls_provided_key_file: {key}
        tls_provided_cert_file: {cert}
        tls_provided_chain_file: "{chain}"
        tls_provided_ca_file: {ca}
"""


@pytest.mark.parametrize(
    ("case", "override", "expect"),
    [
        ("a key of another certificate", {"key": "other.key"}, "tls_provided_key_file"),
        ("an expired certificate", {"cert": "expired.pem"}, "expired"),
        ("a chain without the intermediate", {"chain": ""}, "does not chain up"),
        ("a missing file", {"ca": "nonexistent.pem"}, "tls_provided_ca_file"),
    ],
)
def test_bad_provided_files_fail_early_and_change_nothing(hosts, inventory, tmp_path, case, override, expect):
    hub = hosts("tls-provided")
    installed = [f"{TLS}/cert.pem", f"{TLS}/key.pem", f"{TLS}/mongodb.pem"]
    before = [hub.file(path).sha256sum for path in installed]
    files = {"key": "key.pem", "cert": "cert.pem", "chain": "intermediate.pem", "ca": "root.pem"} | override
    paths = {name: (str(OPERATOR_PKI / value) if value else "") for name, value in files.items()}
    result = playbook(inventory, BAD_PROVIDED.format(name=case, **paths), tmp_path)
    assert result.returncode != 0, f"the role accepted {case}"
    assert expect in result.stdout, result.stdout
    assert [hub.file(path).sha256sum for path in installed] == before
