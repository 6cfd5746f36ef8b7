"""Every day-two command refuses bad input at once, on the controller, with one message, touching no host.

The inventory's hosts are TEST-NET-1 addresses on port 1, where nothing answers: a command that got past its
checks would show an unreachable host.
"""

import pytest
from ansible_run import ansible_playbook
from test_inventory_errors import FLEET, NO_HUB, ROOT, encrypt_vault, failed_tasks, make_inventory

COMMANDS = ["playbooks/add-worker.yml", "playbooks/remove-worker.yml", "playbooks/rotate.yml"]


def refused(result, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in " ".join(output.split()), output
    assert len(failed_tasks(result)) == 1, output
    assert "UNREACHABLE" not in output


@pytest.mark.parametrize("playbook", COMMANDS)
def test_an_unknown_host_is_refused(tmp_path, playbook):
    result = ansible_playbook("-i", str(make_inventory(tmp_path, FLEET)), playbook, "-e", "worker=worker9")
    refused(result, "worker9: no such host in the inventory")


@pytest.mark.parametrize("playbook", COMMANDS)
def test_a_host_that_is_not_a_worker_is_refused(tmp_path, playbook):
    result = ansible_playbook("-i", str(make_inventory(tmp_path, FLEET)), playbook, "-e", "worker=worker1,hub1")
    refused(result, "hub1: not in the group `workers`")


@pytest.mark.parametrize("playbook", ["playbooks/add-worker.yml", "playbooks/remove-worker.yml"])
def test_no_worker_named_is_refused(tmp_path, playbook):
    result = ansible_playbook("-i", str(make_inventory(tmp_path, FLEET)), playbook)
    refused(result, "Name the worker: -e worker=<inventory name>")


def test_rotate_names_what_it_can_rotate(tmp_path):
    result = ansible_playbook("-i", str(make_inventory(tmp_path, FLEET)), "playbooks/rotate.yml", "-e", "rotate=all")
    refused(result, "Name what to rotate, one of: -e worker=")


@pytest.mark.parametrize(
    "playbook", [*COMMANDS, "playbooks/firewall.yml", "playbooks/status.yml", "playbooks/backup.yml"]
)
def test_a_missing_vault_password_stops_before_any_task(tmp_path, playbook):
    inventory = make_inventory(tmp_path, FLEET)
    encrypt_vault(tmp_path, inventory)
    result = ansible_playbook("-i", str(inventory), playbook, "-e", "worker=worker1")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("Attempting to decrypt but no vault secrets found") == 1, output
    assert "TASK [" not in result.stdout


# The first play of backup.yml, restore.yml and uninstall.yml checks the command line on the controller with
# the fleet role's filters, before any role runs (ansible.cfg's filter_plugins).
@pytest.mark.parametrize(
    ("playbook", "hosts", "args", "message"),
    [
        ("backup.yml", NO_HUB, [], "exactly one host in the group `hub` (it has 0): that is the host backed up."),
        (
            "backup.yml",
            FLEET,
            ["-e", f"backup_dir={ROOT}/backups"],
            f"backup_dir ({ROOT}/backups) must be an absolute folder outside this repository ({ROOT})",
        ),
        ("restore.yml", FLEET, [], "Say which backup to restore: -e restore_from=<folder>"),
        ("restore.yml", FLEET, ["-e", "restore_from=/nonexistent"], "restore_from (/nonexistent) is not a folder"),
        ("restore.yml", FLEET, ["-e", "restore_from={tmp}"], "restore_from ({tmp}) holds no rabbitmq-definitions.json"),
        ("uninstall.yml", FLEET, [], "Say which hosts to uninstall: -e uninstall_hosts=<host, group or pattern>"),
        (
            "uninstall.yml",
            FLEET,
            ["-e", "uninstall_hosts=workers:wroker2"],
            "uninstall_hosts (workers:wroker2) names wroker2, which matches no host or group of the inventory",
        ),
        (
            "uninstall.yml",
            FLEET,
            ["-e", "uninstall_hosts=hub1:localhost"],
            "matches localhost, which are neither the hub nor workers",
        ),
    ],
    ids=[
        "backup without hub",
        "backup inside",
        "restore nothing",
        "restore missing",
        "restore not a backup",
        "uninstall nothing",
        "uninstall misspelt",
        "uninstall others",
    ],
)
def test_a_backup_restore_or_uninstall_refuses_bad_input_before_any_host(tmp_path, playbook, hosts, args, message):
    inventory = make_inventory(tmp_path, hosts)
    args = [arg.format(tmp=tmp_path) for arg in args]
    result = ansible_playbook("-i", str(inventory), f"playbooks/{playbook}", *args)
    refused(result, message.format(tmp=tmp_path))
