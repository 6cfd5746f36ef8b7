"""The mongodb role up to its configuration on mongodb-config-hub, which cannot get MongoDB's packages:
mongod.conf, the certificate mongod would read, owners and modes, the firewall. No mongod runs, and none is
faked (prepare.yml runs a plain TCP listener on 27017 for the firewall checks). The same hub as one of three
(converge.yml's last play): a replica set member's mongod.conf, in a second file, and the set's key.
"""

import os
import re
from pathlib import Path

import pytest
import yaml
from checks import CONNECTED, NO_ANSWER, connect

HUB = "mongodb-config-hub"
TLS = "/etc/celery-fleet/tls"
CHECK = "/usr/local/lib/celery-fleet/mongod-conf-check"
MEMBER_CONF = "/etc/mongod-replica-set.conf"
KEY_FILE = "/etc/celery-fleet/mongodb-keyfile"


@pytest.fixture
def hub(hosts):
    return hosts(HUB)


def global_ipv4(host) -> str:
    return host.check_output("ip -4 -o addr show scope global").split()[3].split("/")[0]


def test_mongod_conf_holds_what_a_public_hub_needs(hub):
    conf = yaml.safe_load(hub.file("/etc/mongod.conf").content_string)
    assert conf["net"]["port"] == 27017
    assert conf["net"]["bindIp"] == f"127.0.0.1,{global_ipv4(hub)}"
    assert conf["net"]["tls"] == conf["net"]["tls"] | {
        "mode": "requireTLS",
        "certificateKeyFile": f"{TLS}/mongodb.pem",
        "CAFile": f"{TLS}/ca.pem",
        "allowConnectionsWithoutCertificates": True,
        "disabledProtocols": "TLS1_0,TLS1_1",
    }
    assert conf["security"]["authorization"] == "enabled"
    assert conf["setParameter"]["authenticationMechanisms"] == "SCRAM-SHA-256"
    assert conf["storage"]["dbPath"] == "/var/lib/mongodb"
    assert conf["systemLog"] == conf["systemLog"] | {"destination": "file", "path": "/var/log/mongodb/mongod.log"}
    # A single hub is no replica set member.
    assert "replication" not in conf and conf["security"] == {"authorization": "enabled"}


def test_a_hub_of_three_is_a_replica_set_member_proven_by_the_key(hub):
    single = yaml.safe_load(hub.file("/etc/mongod.conf").content_string)
    member = yaml.safe_load(hub.file(MEMBER_CONF).content_string)
    assert member.pop("replication") == {"replSetName": "celery-fleet"}
    assert member["security"].pop("keyFile") == KEY_FILE
    assert member["net"]["tls"].pop("clusterFile") == f"{TLS}/node-mongodb.pem"
    assert member["net"]["tls"].pop("clusterCAFile") == f"{TLS}/node-ca.pem"
    # Nothing else differs from the single hub's file.
    assert member == single
    assert hub.run(f"{CHECK} {MEMBER_CONF}").rc == 0


def test_the_key_is_the_fleets_one_made_on_the_controller(hub):
    key = hub.file(KEY_FILE).content_string
    # What security.keyFile accepts: 6 to 1024 characters of the base64 set.
    assert re.fullmatch(r"[A-Za-z0-9]{756}", key), len(key)
    secrets = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials" / "mongodb-replica-set-key"
    assert secrets.read_text().strip() == key
    # Nowhere in the files the role renders.
    assert key not in hub.file(MEMBER_CONF).content_string


@pytest.mark.parametrize(("user", "readable"), [("mongodb", True), ("nobody", False)])
def test_only_mongod_reads_the_key(hub, user, readable):
    assert (hub.run(f"runuser -u {user} -- test -r {KEY_FILE}").rc == 0) is readable


def test_the_roles_check_accepts_the_file_and_refuses_an_undocumented_setting(hub):
    assert hub.run(f"{CHECK} /etc/mongod.conf").rc == 0
    # storage.journal.enabled was removed in MongoDB 6.1: a mongod 8.0 refuses it.
    conf = yaml.safe_load(hub.file("/etc/mongod.conf").content_string)
    conf["storage"]["journal"] = {"enabled": True}
    hub.check_output("printf %%s %s > /tmp/mongod-undocumented.conf", yaml.safe_dump(conf))
    refused = hub.run(f"{CHECK} /tmp/mongod-undocumented.conf")
    assert refused.rc == 1 and "storage.journal.enabled" in refused.stdout, refused.stdout + refused.stderr


def test_nothing_here_pretends_to_be_mongodb(hub):
    assert not hub.file("/usr/bin/mongod").exists


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        (f"{TLS}/mongodb.pem", "root", "celery-fleet-tls", 0o640),
        ("/etc/mongod.conf", "root", "root", 0o644),
        ("/var/lib/mongodb", "mongodb", "mongodb", 0o750),
        ("/var/log/mongodb", "mongodb", "mongodb", 0o750),
        (f"{TLS}/reload.d/50-mongodb", "root", "root", 0o755),
        ("/usr/local/lib/celery-fleet/mongodb-rotate-certificates", "root", "root", 0o755),
        (CHECK, "root", "root", 0o755),
        ("/etc/celery-fleet/mongodb", "root", "root", 0o700),
        (MEMBER_CONF, "root", "root", 0o644),
        (KEY_FILE, "mongodb", "mongodb", 0o400),
    ],
)
def test_owners_and_modes_are_as_the_role_documents_them(hub, path, owner, group, mode):
    managed = hub.file(path)
    assert managed.exists
    assert (managed.user, managed.group, managed.mode) == (owner, group, mode)


@pytest.mark.parametrize(("user", "readable"), [("mongodb", True), ("nobody", False)])
def test_only_the_mongodb_user_reads_the_key_file(hub, user, readable):
    assert (hub.run(f"runuser -u {user} -- test -r {TLS}/mongodb.pem").rc == 0) is readable


def test_mongodb_pem_holds_the_hubs_certificate_and_its_key(hub):
    def fingerprint(path: str) -> str:
        return hub.check_output(f"openssl x509 -noout -fingerprint -sha256 -in {path}")

    assert fingerprint(f"{TLS}/mongodb.pem") == fingerprint(f"{TLS}/cert.pem")
    pem = f"{TLS}/mongodb.pem"
    assert hub.check_output(f"openssl pkey -in {pem} -pubout") == hub.check_output(
        f"openssl x509 -in {pem} -noout -pubkey"
    )
    assert hub.run(f"openssl verify -CAfile {TLS}/ca.pem {TLS}/cert.pem").rc == 0


def test_port_27017_is_open_to_the_workers_only(hub, hosts):
    worker = hosts("mongodb-config-worker")
    assert connect(worker, HUB, 27017, timeout=10) == CONNECTED
    assert connect(hosts("mongodb-config-outsider"), HUB, 27017) == NO_ANSWER
    rules = [
        line for line in hub.check_output("nft list table inet celery_fleet").splitlines() if "dport 27017" in line
    ]
    assert len(rules) == 1, rules
    assert f"ip saddr {global_ipv4(worker)} tcp dport 27017 accept" in rules[0], rules
