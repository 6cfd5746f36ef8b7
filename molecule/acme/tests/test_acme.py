"""acme-hub's certificate from the local ACME CA (pebble on acme-ca), seen from acme-client.

The tests run in this file's order: the renewal ones force a renewal.
"""

import pytest
from cryptography import x509

TLS = "/etc/celery-fleet/tls"
DOMAIN = "hub.fleet.example"


@pytest.fixture
def hub(hosts):
    return hosts("acme-hub")


@pytest.fixture
def client(hosts):
    return hosts("acme-client")


def read(host, name: str) -> str:
    return host.file(f"{TLS}/{name}.pem").content_string


def test_the_ca_issued_it_for_the_hubs_domain(hub):
    cert = x509.load_pem_x509_certificate(read(hub, "cert").encode())
    issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert "Pebble" in issuer
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert sans.get_values_for_type(x509.IPAddress) == []


def test_mongodbs_pem_is_the_full_chain_then_the_key(hub):
    assert read(hub, "mongodb") == read(hub, "fullchain") + read(hub, "key")
    assert read(hub, "cert").strip() in read(hub, "fullchain")


@pytest.mark.parametrize("name", ["key", "mongodb"])
def test_keys_are_for_root_and_the_service_group_only(hub, name):
    key = hub.file(f"{TLS}/{name}.pem")
    assert (key.user, key.group, key.mode) == ("root", "celery-fleet-tls", 0o640)


def test_port_80_was_open_for_the_challenge_only(hub):
    assert "acme-http-01" not in hub.check_output("nft list chain inet celery_fleet allowed")


def test_renewal_runs_unattended(hub):
    timer = hub.service("celery-fleet-acme-renew.timer")
    assert timer.is_running
    assert timer.is_enabled


def test_a_client_verifies_the_chain_with_the_delivered_ca(hub, client):
    for name in ("cert", "chain"):
        client.check_output(f"printf %%s %s > /tmp/hub-{name}.pem", read(hub, name))
    verified = client.run(f"openssl verify -CAfile {TLS}/ca.pem -untrusted /tmp/hub-chain.pem /tmp/hub-cert.pem")
    assert verified.rc == 0, verified.stdout + verified.stderr


@pytest.fixture(scope="module")
def renewed(hosts):
    """Force a renewal, as the timer does when the certificate is due; the certificate before it."""
    hub = hosts("acme-hub")
    before = read(hub, "cert")
    hub.run("rm -f /root/tls-hook.log")
    hook = f"{TLS}/reload.d/50-test"
    hub.check_output("printf '#!/bin/sh\\necho reloaded >> /root/tls-hook.log\\n' > %s && chmod 0755 %s", hook, hook)
    acme = "/opt/acme.sh/acme.sh --home /opt/acme.sh --config-home /etc/celery-fleet/acme"
    renewal = hub.run(f"{acme} --renew -d {DOMAIN} --ecc --force")
    assert renewal.rc == 0, renewal.stdout + renewal.stderr
    return before


def test_a_renewal_rebuilds_the_mongodb_pem_and_tells_the_services(hub, renewed):
    assert read(hub, "cert") != renewed
    assert read(hub, "mongodb") == read(hub, "fullchain") + read(hub, "key")
    assert read(hub, "cert").strip() in read(hub, "mongodb")
    assert "reloaded" in hub.file("/root/tls-hook.log").content_string
    assert hub.file(f"{TLS}/mongodb.pem").mode == 0o640


def test_the_broker_serves_the_renewed_certificate_without_a_restart_by_hand(hub, client, renewed):
    served = client.check_output(
        f"echo | openssl s_client -connect acme-hub:5671 -servername {DOMAIN} -CAfile {TLS}/ca.pem "
        f"-verify_return_error -verify_hostname {DOMAIN} 2>/dev/null | openssl x509"
    )
    assert served.strip() == read(hub, "cert").strip()
