"""Bad input fails before any host is touched, with a message naming the fix.

The inventories here point at addresses nothing listens on (TEST-NET-1, port
1): if a check let a run through, the run would stop at an unreachable host
instead of changing anything.
"""

import subprocess
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent


def write_inventory(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(body)
    return path


HOSTS = """
all:
  vars:
    ansible_host: 192.0.2.1
    ansible_port: 1
    ansible_ssh_common_args: -o ConnectTimeout=2
{extra}
  children:
    hub:
      hosts:
        {hub}
    workers:
      hosts:
        w1:
"""


def run(playbook: str, inventory: Path) -> subprocess.CompletedProcess:
    return ansible_playbook("-i", str(inventory), playbook)


FLEET_VARS = "    fleet_network_profile: public\n    fleet_operator_sources: []\n"


@pytest.mark.parametrize("playbook", ["site.yml", "workers.yml"])
def test_missing_fleet_settings_are_named(tmp_path, playbook):
    result = run(playbook, write_inventory(tmp_path, HOSTS.format(extra="", hub="hub1:")))
    assert result.returncode != 0
    assert "fleet_network_profile" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_workers_without_a_hub_are_refused(tmp_path):
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=FLEET_VARS, hub="")))
    assert result.returncode != 0
    assert "exactly one host in the group `hub`" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_a_wrongly_typed_role_variable_is_named(tmp_path):
    extra = FLEET_VARS + "    common_firewall_ssh_port: not-a-port\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub="hub1:")))
    assert result.returncode != 0
    assert "common_firewall_ssh_port" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_a_firewall_source_that_is_not_an_address_is_named(tmp_path):
    extra = FLEET_VARS + "    common_firewall_ssh_sources: [my-laptop.example]\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub="hub1:")))
    assert result.returncode != 0
    assert "common_firewall_ssh_sources" in result.stdout
    assert "my-laptop.example" in result.stdout
    assert "UNREACHABLE" not in result.stdout


@pytest.mark.parametrize("where", ["group all", "the hub's host vars"])
def test_a_staging_acme_ca_without_its_root_is_refused_naming_both(tmp_path, where):
    acme = {"tls_mode": "acme", "tls_acme_server": "letsencrypt_test", "tls_acme_domain": "hub.example.org"}
    if where == "group all":
        extra = FLEET_VARS + "".join(f"    {key}: {value}\n" for key, value in acme.items())
        hub = "hub1:"
    else:
        extra = FLEET_VARS
        hub = "hub1: {" + ", ".join(f"{key}: {value}" for key, value in acme.items()) + "}"
    extra += "    tls_acme_email: ops@example.org\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub=hub)))
    assert result.returncode != 0
    assert "tls_acme_server is letsencrypt_test" in result.stdout and "tls_acme_client_ca_file" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_a_private_fleet_without_its_network_is_refused(tmp_path):
    private = "    fleet_network_profile: private\n    fleet_operator_sources: []\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=private, hub="hub1:")))
    assert result.returncode != 0
    assert "fleet_network_profile is private: set fleet_private_subnet" in result.stdout
    assert "UNREACHABLE" not in result.stdout
