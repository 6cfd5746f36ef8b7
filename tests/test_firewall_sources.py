"""The hub's firewall sources: each worker by IPv4 and IPv6, or the private network only.

A hub name with an AAAA record makes workers connect over IPv6. The workers'
facts come from a fact cache written here (an IPv4 and a global IPv6
address each); the hub's checks and the firewall fragment they hand to the
common role are rendered on this machine through the local connection.
"""

import json
from pathlib import Path

from ansible_run import TLS_ROLE_VARS, ansible_playbook

ROOT = Path(__file__).resolve().parent.parent

INVENTORY = (
    """
all:
  vars:
    fleet_network_profile: public
    fleet_operator_sources: [198.51.100.7]
    fleet_broker_password: a-test-password-long-enough
    mongodb_admin_password: test-admin-password
    mongodb_app_password: test-app-password
"""
    + TLS_ROLE_VARS
    + """  children:
    hub:
      hosts:
        hub1: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
    workers:
      hosts:
        w1:
        w2:
"""
)

PLAYBOOK = """
- name: What the hub's services hand the firewall
  hosts: hub
  gather_facts: false
  tasks:
    - name: Load the distribution's settings the rabbitmq checks read
      ansible.builtin.include_vars: {root}/roles/rabbitmq/vars/debian-12.yml

    - name: Run the rabbitmq checks, keeping the role's variables
      ansible.builtin.include_role: {{name: rabbitmq, tasks_from: assert, public: true}}

    - name: Run the mongodb checks, keeping the role's variables
      ansible.builtin.include_role: {{name: mongodb, tasks_from: assert, public: true}}

    - name: Render the rabbitmq firewall fragment as the common role would
      ansible.builtin.template:
        src: {root}/roles/common/templates/firewall-rules.nft.j2
        dest: {out}/50-rabbitmq.nft
        mode: "0600"
      vars:
        common_firewall_allow_name: rabbitmq
        common_firewall_allow_rules: [{{port: 5671, sources: "{{{{ rabbitmq_allowed_sources }}}}", comment: amqps}}]

    - name: Write the sources
      ansible.builtin.copy:
        content: "{{{{ {{'rabbitmq': rabbitmq_allowed_sources, 'mongodb': mongodb_firewall_sources,
                       'bind': mongodb_bind_ip}} | to_json }}}}"
        dest: {out}/sources.json
        mode: "0600"
"""


def worker_facts(v4: str, v6: str) -> str:
    facts = {
        "ansible_default_ipv4": {"address": v4},
        "ansible_default_ipv6": {"address": v6, "scope": "global"},
    }
    return json.dumps({"__payload__": json.dumps(facts)})


def test_each_worker_is_allowed_by_its_ipv4_and_its_ipv6_address(tmp_path):
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(root=ROOT, out=tmp_path))
    cache = tmp_path / "facts"
    cache.mkdir()
    (cache / "s1_w1").write_text(worker_facts("192.0.2.21", "2001:db8::21"))
    (cache / "s1_w2").write_text(worker_facts("192.0.2.22", "2001:db8::22"))
    result = ansible_playbook(
        "-i",
        str(tmp_path / "hosts.yml"),
        str(tmp_path / "play.yml"),
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache),
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="0",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    sources = json.loads((tmp_path / "sources.json").read_text())
    wanted = {"192.0.2.21", "2001:db8::21", "192.0.2.22", "2001:db8::22", "198.51.100.7"}
    assert set(sources["rabbitmq"]) == wanted
    assert set(sources["mongodb"]) == wanted
    rules = (tmp_path / "50-rabbitmq.nft").read_text()
    assert "ip saddr { 192.0.2.21, 192.0.2.22, 198.51.100.7 } tcp dport 5671 accept" in rules
    assert "ip6 saddr { 2001:db8::21, 2001:db8::22 } tcp dport 5671 accept" in rules


def test_a_private_fleet_opens_the_hub_to_its_network_only(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        INVENTORY.replace(
            "fleet_network_profile: public", "fleet_network_profile: private\n    fleet_private_subnet: 10.0.0.0/24"
        )
    )
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(root=ROOT, out=tmp_path))
    result = ansible_playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"))
    assert result.returncode == 0, result.stdout[-3000:]
    sources = json.loads((tmp_path / "sources.json").read_text())
    assert sources["rabbitmq"] == ["10.0.0.0/24"]
    assert sources["mongodb"] == ["10.0.0.0/24"]
