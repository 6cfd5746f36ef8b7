"""mongod.conf and the app user's roles as the mongodb role renders them.

mongod cannot be installed on these machines (molecule/mongodb reports "not
run" here), so what mongod would be given is checked as rendered: the
role's own checks and its template, run by Ansible on this machine through
the local connection, writing only into the test's folder.
"""

import json
from pathlib import Path

import pytest
import yaml
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent

INVENTORY = """
all:
  vars:
    fleet_network_profile: public
    fleet_operator_sources: []
    mongodb_admin_password: test-admin-password
    mongodb_app_password: test-app-password
  children:
    hub:
      hosts:
        hub1: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
    workers:
      hosts:
        w1: {ansible_host: 192.0.2.21}
"""

PLAYBOOK = """
- name: Render what the mongodb role gives mongod
  hosts: hub
  gather_facts: false
  tasks:
    - name: Run the role's checks, keeping its variables
      ansible.builtin.include_role:
        name: mongodb
        tasks_from: assert
        public: true

    - name: Render mongod.conf
      ansible.builtin.template:
        src: {root}/roles/mongodb/templates/mongod.conf.j2
        dest: {out}/mongod.conf
        mode: "0600"

    - name: Write the app user's roles
      ansible.builtin.copy:
        content: "{{{{ mongodb_app_roles | to_json }}}}"
        dest: {out}/app-roles.json
        mode: "0600"

    - name: Write the replica set's members and the firewall's rules
      ansible.builtin.copy:
        content: "{{{{ {{'members': mongodb_replica_set_members, 'rules': mongodb_firewall_rules,
                        'writes_here': mongodb_writes_here | bool}} | to_json }}}}"
        dest: {out}/values.json
        mode: "0600"
"""


def render(tmp_path: Path, **variables):
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(root=ROOT, out=tmp_path))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    result = ansible_playbook(
        "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.json'}"
    )
    return result


def rendered(tmp_path: Path, **variables) -> dict:
    result = render(tmp_path, **variables)
    assert result.returncode == 0, result.stdout[-3000:]
    return yaml.safe_load((tmp_path / "mongod.conf").read_text())


def test_a_private_ca_hub_gives_mongod_the_ca(tmp_path):
    conf = rendered(tmp_path, tls_client_uses_system_trust=False, tls_ca_file="/etc/celery-fleet/tls/ca.pem")
    assert conf["net"]["tls"]["CAFile"] == "/etc/celery-fleet/tls/ca.pem"
    assert conf["net"]["tls"]["mode"] == "requireTLS"


def test_a_public_acme_hub_gives_mongod_the_system_store(tmp_path):
    """MongoDB 7.0.6+ refuses TLS without a chain of trust (SERVER-72839)."""
    conf = rendered(tmp_path, tls_client_uses_system_trust=True)
    assert conf["net"]["tls"]["CAFile"] == "/etc/ssl/certs/ca-certificates.crt"
    # Celery logs in with a password and presents no certificate.
    assert conf["net"]["tls"]["allowConnectionsWithoutCertificates"] is True


def test_the_system_store_may_come_from_tls_use_system_ca_instead(tmp_path):
    conf = rendered(tmp_path, mongodb_tls_ca_file="", mongodb_config_extra={"setParameter": {"tlsUseSystemCA": True}})
    assert "CAFile" not in conf["net"]["tls"]
    assert conf["setParameter"]["tlsUseSystemCA"] is True


def test_no_chain_of_trust_at_all_is_refused_before_mongod_sees_it(tmp_path):
    result = render(tmp_path, mongodb_tls_ca_file="")
    assert result.returncode != 0
    assert "mongodb_tls_ca_file" in result.stdout and "tlsUseSystemCA" in result.stdout
    assert not (tmp_path / "mongod.conf").exists()


@pytest.mark.parametrize("database", ["celery", "results"])
def test_the_app_user_may_read_and_write_its_own_database_only(tmp_path, database):
    rendered(tmp_path, mongodb_app_database=database)
    roles = json.loads((tmp_path / "app-roles.json").read_text())
    assert roles == [{"role": "readWrite", "db": database}]


def test_mongod_offers_the_fleets_tls12_suites_only(tmp_path):
    conf = rendered(tmp_path)
    fleet = yaml.safe_load((ROOT / "roles/fleet/defaults/main.yml").read_text())["fleet_tls_ciphers"]
    tls12 = [suite for suite in fleet if not suite.startswith("TLS_")]
    assert tls12 and len(tls12) < len(fleet)
    assert conf["setParameter"]["opensslCipherConfig"] == ":".join(tls12)


def test_a_private_fleet_binds_the_private_address_and_opens_to_its_network_only(tmp_path):
    conf = rendered(
        tmp_path,
        fleet_network_profile="private",
        fleet_private_subnet="10.0.0.0/24",
        fleet_hub_private_address="10.0.0.5",
    )
    assert conf["net"]["bindIp"] == "127.0.0.1,10.0.0.5"
