"""controller.yml with an inventory shaped like inventory/example, which sets
ansible_become for `all`: the operator's side never becomes root.

Any attempt to become here runs a sudo that does not exist and fails, so a
play that used become could not pass. The tests may run as root, and Ansible
skips becoming the user it already is: the inventory becomes `nobody`
instead of root, so that an attempt is made whoever runs the test.
"""

import os
import stat
from pathlib import Path

from ansible_run import ansible_playbook

HOSTS = """\
all:
  children:
    hub:
      hosts:
        hub.example.org: {ansible_host: 192.0.2.10}
    workers:
      hosts:
        worker1.example.org: {ansible_host: 192.0.2.21}
  vars:
    ansible_user: admin
    ansible_become: true
    ansible_become_exe: /nonexistent/sudo
    ansible_become_user: nobody
"""


def test_the_controller_play_writes_the_operators_files_as_the_operator(tmp_path: Path):
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(HOSTS)
    (inventory / "group_vars" / "all" / "main.yml").write_text(
        "fleet_network_profile: public\nfleet_operator_sources: []\nfleet_result_backend: rpc\n"
        f"fleet_hub_names: [hub.example.org]\ntls_controller_dir: {pki}\n"
        "fleet_broker_password: a-test-password-of-some-length\n"
    )
    app = tmp_path / "app"
    result = ansible_playbook("-i", str(inventory), "controller.yml", "-e", f"controller_output_dir={app}")
    assert result.returncode == 0, result.stdout[-3000:]
    settings = app / "celeryconfig.py"
    info = settings.stat()
    assert info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o600
    text = settings.read_text()
    assert "amqps://" in text and "hub.example.org" in text
    # Only the workers' copy carries the workers' settings.
    assert "task_acks_late" not in text and "worker_prefetch_multiplier" not in text
    assert f'"ca_certs": "{app}/controller/ca.pem"' in text
    assert (app / "controller" / "ca.pem").read_text() == (pki / "ca.pem").read_text()
