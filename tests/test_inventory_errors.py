"""A broken inventory stops the run early with one message that names the problem.

Each inventory here points at TEST-NET-1 addresses on port 1, where nothing
answers: a run that got past its checks would stop at an unreachable host,
never change anything.
"""

import re
import subprocess
import time
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent

FLEET_VARS = """\
fleet_network_profile: public
fleet_operator_sources: []
ansible_port: 1
ansible_ssh_common_args: -o ConnectTimeout=2 -o ConnectionAttempts=1
"""

FLEET = """\
all:
  children:
    hub:
      hosts:
        hub1: {ansible_host: 192.0.2.1}
    workers:
      hosts:
        worker1: {ansible_host: 192.0.2.2}
        worker2: {ansible_host: 192.0.2.3}
"""

# The group `hub` is missing altogether.
NO_HUB = """\
all:
  children:
    workers:
      hosts:
        worker1: {ansible_host: 192.0.2.2}
"""


def make_inventory(tmp_path: Path, hosts: str, group_vars: str = FLEET_VARS) -> Path:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(hosts)
    (inventory / "group_vars" / "all" / "main.yml").write_text(group_vars)
    return inventory


def run(*args: str) -> subprocess.CompletedProcess:
    return ansible_playbook(*args)


def failed_tasks(result: subprocess.CompletedProcess) -> list[str]:
    """The `fatal:` lines: one per host and failed task."""
    return [line for line in result.stdout.splitlines() if line.startswith("fatal:")]


@pytest.mark.parametrize("playbook", ["site.yml", "workers.yml"])
def test_workers_without_a_hub_group_get_one_message(tmp_path, playbook):
    result = run("-i", str(make_inventory(tmp_path, NO_HUB)), playbook)
    assert result.returncode != 0
    assert "The group `hub` has 0 hosts (); it needs one, or three for a cluster" in result.stdout
    # One failed check on the controller, and no host was contacted.
    assert len(failed_tasks(result)) == 1, result.stdout
    assert re.search(r"localhost\s*:.*failed=1", result.stdout), result.stdout
    assert "UNREACHABLE" not in result.stdout


def encrypt_vault(tmp_path: Path, inventory: Path) -> Path:
    """Encrypt group_vars/all/vault.yml with a password kept in a file."""
    password_file = tmp_path / "vault-password"
    password_file.write_text("e2e-vault-password\n")
    vault = inventory / "group_vars" / "all" / "vault.yml"
    vault.write_text("vault_rabbitmq_app_password: not-a-real-password\n")
    subprocess.run(
        ["ansible-vault", "encrypt", "--vault-password-file", str(password_file), str(vault)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    return password_file


@pytest.mark.parametrize("playbook", ["site.yml", "workers.yml"])
def test_a_missing_vault_password_gets_one_message(tmp_path, playbook):
    inventory = make_inventory(tmp_path, FLEET)
    encrypt_vault(tmp_path, inventory)
    result = run("-i", str(inventory), playbook)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # Ansible's own message, once, and the run stops there: when the first
    # play reads the inventory's variables, before any task runs.
    assert output.count("Attempting to decrypt but no vault secrets found") == 1, output
    assert "TASK [" not in result.stdout
    assert "UNREACHABLE" not in output


def test_the_same_vault_with_its_password_gets_past_the_inventory(tmp_path):
    """The control for the test above: the password is what was missing."""
    inventory = make_inventory(tmp_path, FLEET)
    password_file = encrypt_vault(tmp_path, inventory)
    result = run("-i", str(inventory), "--vault-password-file", str(password_file), "site.yml")
    assert "no vault secrets" not in result.stdout + result.stderr
    assert "PLAY [" in result.stdout


@pytest.mark.parametrize("playbook", ["site.yml", "workers.yml"])
def test_an_unreachable_host_stops_the_run_quickly_and_is_named(tmp_path, playbook):
    started = time.monotonic()
    result = run("-i", str(make_inventory(tmp_path, FLEET)), playbook)
    elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stdout  # ansible-playbook's code for unreachable hosts
    # workers.yml first moves the scheduler on every worker at once (before
    # the batches): each worker is reached there, and the run stops before
    # the first batch.
    hosts = ["hub1", "worker1", "worker2"] if playbook == "site.yml" else ["worker1", "worker2"]
    for host in hosts:
        assert re.search(rf"fatal: \[{host}\]: UNREACHABLE!", result.stdout), result.stdout
        assert re.search(rf"{host}\s*:.*unreachable=1", result.stdout), result.stdout
    # The inventory checks passed; the first task that needs a host stopped
    # the run: one failure per host, and no later play started.
    assert re.search(r"localhost\s*:.*failed=0", result.stdout), result.stdout
    assert len(failed_tasks(result)) == len(hosts), result.stdout
    assert "PLAY [Set up the hub]" not in result.stdout
    assert "TASK [Install the hub's CA certificate]" not in result.stdout
    assert elapsed < 60, f"took {elapsed:.0f} s"


def test_the_controller_without_the_hub_ca_gets_one_message(tmp_path):
    """controller.yml before site.yml: the CA certificate is not there yet."""
    pki = tmp_path / "pki"
    pki.mkdir()
    inventory = make_inventory(tmp_path, FLEET, FLEET_VARS + f"tls_controller_dir: {pki}\n")
    result = run("-i", str(inventory), "controller.yml")
    assert result.returncode != 0
    fatal = failed_tasks(result)
    assert len(fatal) == 1, result.stdout[-2000:]
    assert "tls_controller_ca_file" in result.stdout and f"{pki}/ca.pem" in result.stdout
    assert "run site.yml first" in result.stdout
    # Stopped before anything was written.
    assert "Render the controller's Celery settings" not in result.stdout
