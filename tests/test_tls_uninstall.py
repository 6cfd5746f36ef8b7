"""The tls role's uninstall removes acme.sh only where the role installed it: on the hub, in the folder where
it recorded the release. A worker's /opt/acme.sh, or one on the hub the role did not install, is the
operator's.

The uninstall runs in check mode on hosts reached through the local connection: nothing changes here, and
each removal it would make is reported as changed, with its path.
"""

import json
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

PLAYBOOK = """
- name: The tls role's uninstall, as playbooks/uninstall.yml and remove-worker.yml run it
  hosts: all
  gather_facts: false
  tasks:
    - name: Remove the certificate material
      ansible.builtin.include_role:
        name: tls
        tasks_from: uninstall
"""

HOSTS = """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
    fleet_network_profile: public
    fleet_operator_sources: []
    tls_mode: acme
    tls_acme_domain: hub.example.org
    tls_acme_email: ops@example.org
    tls_dir: {tmp}/tls
    tls_acme_config_home: {tmp}/acme-config
    tls_install_script: {tmp}/install
    tls_controller_dir: {tmp}/pki
    tls_group: celery-fleet-test-no-such-group
  children:
    hub:
      hosts:
        hub1: {{tls_acme_home: {tmp}/hub/acme.sh}}
    workers:
      hosts:
        worker1: {{tls_acme_home: {tmp}/worker1/acme.sh}}
"""


def would_remove(tmp_path: Path) -> dict[str, set[str]]:
    """Each host's paths the uninstall would remove (check mode: nothing is)."""
    (tmp_path / "hosts.yml").write_text(HOSTS.format(tmp=tmp_path))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    result = ansible_playbook(
        "--check",
        "-i",
        str(tmp_path / "hosts.yml"),
        str(tmp_path / "play.yml"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # The JSON document, whatever timing callbacks print after it.
    run = json.JSONDecoder().raw_decode(result.stdout[result.stdout.find("{") :])[0]
    removed: dict[str, set[str]] = {"hub1": set(), "worker1": set()}
    for play in run["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                for item in outcome.get("results", [outcome]):
                    asked = item.get("invocation", {}).get("module_args", {})
                    if item.get("changed") and asked.get("state") == "absent":
                        removed[host].add(item["path"])
    return removed


def acme_sh(home: Path, recorded: bool) -> None:
    home.mkdir(parents=True)
    (home / "acme.sh").write_text("#!/bin/sh\n")
    (Path(f"{home}-src")).mkdir()
    if recorded:
        (home / ".celery-fleet-version").write_text("3.1.4\n")


@pytest.mark.parametrize(
    ("worker_recorded", "hub_recorded"),
    [(False, True), (True, False)],
    ids=[
        "the operator's on the worker, the role's on the hub",
        "a release file on the worker, the operator's on the hub",
    ],
)
def test_acme_sh_is_removed_only_on_the_hub_where_the_role_installed_it(tmp_path, worker_recorded, hub_recorded):
    acme_sh(tmp_path / "worker1/acme.sh", recorded=worker_recorded)
    acme_sh(tmp_path / "hub/acme.sh", recorded=hub_recorded)
    removed = would_remove(tmp_path)
    assert not {path for path in removed["worker1"] if "/worker1/" in path}, removed["worker1"]
    hub = {path for path in removed["hub1"] if "/hub/" in path}
    assert hub == ({str(tmp_path / "hub/acme.sh"), str(tmp_path / "hub/acme.sh-src")} if hub_recorded else set())
