"""The common role's firewall on common-server, seen from common-client (a declared source) and common-outsider.

prepare.yml runs listeners on 8080 (declared, open to the client only) and
8081 (declared by nobody) and proves both reachable before the firewall.
The tests run in this file's order: the last one restarts nftables.
"""

import pytest
from checks import CONNECTED, NO_ANSWER, connect, playbook

SERVER = "common-server"


@pytest.fixture
def server(hosts):
    return hosts(SERVER)


@pytest.fixture
def client(hosts):
    return hosts("common-client")


@pytest.fixture
def outsider(hosts):
    return hosts("common-outsider")


def test_a_declared_port_is_open_to_its_source(client):
    assert connect(client, SERVER, 8080, timeout=10) == CONNECTED


def test_a_declared_port_gives_others_no_answer(outsider):
    assert connect(outsider, SERVER, 8080) == NO_ANSWER


def test_a_port_nobody_declared_gives_no_answer(client):
    assert connect(client, SERVER, 8081) == NO_ANSWER


def test_ssh_stays_reachable_from_anyone(outsider):
    banner = outsider.run(
        "python3 -c %s",
        "import socket; s = socket.create_connection(('common-server', 22), timeout=10); print(s.recv(64).decode())",
    )
    assert "OpenSSH" in banner.stdout, banner.stderr


def test_dockers_name_resolution_works_behind_the_firewall(server):
    assert server.run("getent hosts common-client").rc == 0


def test_inbound_traffic_is_dropped_by_default(server):
    ruleset = server.check_output("nft list table inet celery_fleet")
    assert "policy drop" in ruleset


def test_the_firewall_is_active_and_starts_at_boot(server):
    unit = server.service("celery-fleet-firewall")
    assert unit.is_running
    assert unit.is_enabled


def test_a_port_opened_for_a_while_is_reachable_until_closed(server, client, outsider):
    script = "/usr/local/sbin/celery-fleet-firewall-port"
    server.check_output(f"{script} open test-window 8081 tcp")
    try:
        assert connect(client, SERVER, 8081) == CONNECTED
        assert connect(outsider, SERVER, 8081) == CONNECTED
    finally:
        server.check_output(f"{script} close test-window")
    assert connect(outsider, SERVER, 8081) == NO_ANSWER
    assert "test-window" not in server.check_output("nft list table inet celery_fleet")


INVALID_RULE = """
- name: Declare a rule nftables rejects
  hosts: common-server
  gather_facts: false
  tasks:
    - name: Apply the invalid rule
      ansible.builtin.include_role:
        name: common
        tasks_from: firewall_allow
      vars:
        common_firewall_allow_name: broken
        common_firewall_allow_rules:
          - {port: 70000, comment: out of range}
"""


def test_a_rule_nftables_rejects_changes_nothing(inventory, tmp_path, server, client, outsider):
    result = playbook(inventory, INVALID_RULE, tmp_path)
    assert result.returncode != 0, result.stdout
    assert "nft --check rejected the firewall rules of broken" in result.stdout, result.stdout
    # No fragment of it is left, the ruleset on disk never mentions it, and
    # the running firewall kept its rules.
    assert not server.file("/etc/celery-fleet/firewall.d/50-broken.nft").exists
    assert "70000" not in server.file("/etc/celery-fleet/firewall.nft").content_string
    assert connect(client, SERVER, 8080, timeout=10) == CONNECTED
    assert connect(outsider, SERVER, 8080) == NO_ANSWER


def test_restarting_nftables_keeps_the_celery_fleet_table(server):
    # Debian's nftables.conf begins with `flush ruleset`.
    server.check_output("systemctl restart nftables")
    table = server.run("nft list table inet celery_fleet")
    assert table.rc == 0, table.stderr
    assert "8080" in table.stdout
