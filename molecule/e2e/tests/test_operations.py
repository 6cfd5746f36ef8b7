"""Day two on the fleet test_e2e.py leaves behind (e2e-worker1 killed, as a server lost for good): the operator's
commands, each run as the operator would, against an inventory that says what the operator's hosts.yml says at
that point (a worker added to the group `workers`, a removed one taken out of it).

In this file's order: the lost worker is shut out (and an account no host of the inventory uses goes with the next
site.yml), a third worker joins with one command and takes tasks, status reads the fleet healthy and then names a
stopped unit, a rotation whose hub part fails changes nothing, the third worker's account is rotated while it works (a
new pool process per task) and the other works on, the operator's address moves, the broker is backed up, the third
worker is removed while 1,000 tasks are in flight, the backup is restored into a freshly reset broker (the removed
worker stays out), and the last worker is removed with no operator address: the broker closes.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from batch import assert_none_lost, run_batch
from checks import CONNECTED, NO_ANSWER, connect, probe, run_playbook

HERE = Path(__file__).resolve().parent
LOST, STAYING, NEW = "e2e-worker1", "e2e-worker2", "e2e-worker3"
CA = "/opt/client/app/controller/ca.pem"


def main_pid(host, unit: str = "celery-worker@w1") -> int:
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))


class Fleet:
    """The scenario's hosts through an inventory of the operator's making: molecule's, with the group `workers`
    as given, and the operator's address as given (molecule's own reads it from the client's facts)."""

    def __init__(self, inventory: str, operator: str):
        source = Path(inventory)
        self.hosts = yaml.safe_load(source.read_text())
        self.dir = source.parent.parent / "operator-inventory"
        self.dir.mkdir(exist_ok=True)
        if not (self.dir / "group_vars").exists():
            (self.dir / "group_vars").symlink_to(source.parent / "group_vars")
        self.secrets = Path(yaml.safe_load((source.parent / "group_vars" / "all").read_text())["fleet_secrets_dir"])
        self.operator = operator

    def run(self, playbook: str, *args: str, workers: list[str], operator: str = "", sources: list | None = None):
        hosts = dict(self.hosts)
        hosts["workers"] = dict(hosts.get("workers") or {}, hosts={name: None for name in workers})
        (self.dir / "hosts.yml").write_text(yaml.safe_dump(hosts))
        sources = json.dumps({"fleet_operator_sources": [operator or self.operator] if sources is None else sources})
        started = time.time()
        run = run_playbook(str(self.dir / "hosts.yml"), playbook, "-e", sources, *args)
        run.seconds = round(time.time() - started, 1)
        return run

    def password(self, worker: str) -> str:
        return (self.secrets / f"broker-{worker}").read_text().strip()


# The backup test_a_worker_removed_under_load... makes before it removes the third worker; restored last.
BACKUP: dict = {}


@pytest.fixture(scope="module")
def fleet(inventory, hosts, client_app):
    client = hosts("e2e-client").interface("eth0").addresses[0]
    return Fleet(inventory, client)


def broker_users(hosts) -> set[str]:
    lines = hosts("e2e-hub").check_output("rabbitmqctl -q list_users --formatter json")
    return {user["user"] for user in json.loads(lines)}


def connections_of(hosts, user: str) -> list[str]:
    found = json.loads(hosts("e2e-hub").check_output("rabbitmqctl -q list_connections user name --formatter json"))
    return sorted(conn["name"] for conn in found if conn["user"] == user)


def hub_ruleset(hosts) -> str:
    return hosts("e2e-hub").check_output("nft list table inet celery_fleet")


def address_of(inventory_hosts: dict, name: str) -> str:
    return inventory_hosts["all"]["hosts"][name]["ansible_host"]


def logins(attempts: dict) -> dict:
    args = {"host": "e2e-hub", "vhost": "celery", "ca": CA, "attempts": attempts}
    return probe("e2e-client", "login", args, python="/opt/client/venv/bin/python", directory=HERE)


def test_a_lost_worker_is_shut_out_of_the_hub(fleet, hosts):
    # test_e2e.py killed it: it answers no more, but the hub still holds its connections (until heartbeats fail)
    # and its user, and the firewall still lets its address in.
    state = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", LOST], check=False, capture_output=True, text=True
    )
    if state.stdout.strip() == "true":
        subprocess.run(["docker", "kill", LOST], check=True, capture_output=True)
    address = address_of(fleet.hosts, LOST)
    assert f"worker-{LOST}" in broker_users(hosts)

    run = fleet.run("playbooks/remove-worker.yml", "-e", f"worker={LOST}", workers=[LOST, STAYING])
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: remove-worker.yml of a lost worker: {run.seconds} s")
    assert f"worker-{LOST}" not in broker_users(hosts)
    assert connections_of(hosts, f"worker-{LOST}") == []
    assert address not in hub_ruleset(hosts)
    # Revoked on the controller: no later run gives it an account.
    assert (fleet.secrets / f"revoked-{LOST}").exists()
    # The one left still works (its own user, its address still let in).
    assert address_of(fleet.hosts, STAYING) in hub_ruleset(hosts)
    assert connections_of(hosts, f"worker-{STAYING}") != []


def test_an_account_no_worker_of_the_inventory_uses_goes_with_the_next_site_yml(fleet, hosts):
    # A host taken out of hosts.yml without remove-worker.yml: its account stayed on the broker.
    hub = hosts("e2e-hub")
    hub.check_output("rabbitmqctl -q add_user worker-e2e-retired retired-password-1")
    hub.check_output("rabbitmqctl -q set_permissions -p celery worker-e2e-retired '.*' '.*' '.*'")
    assert logins({"retired": {"user": "worker-e2e-retired", "password": "retired-password-1"}})["retired"]["ok"]
    # site.yml's last play (tag `accounts`), which a whole run ends with.
    run = fleet.run("site.yml", "--tags", "accounts", workers=[STAYING])
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: site.yml --tags accounts: {run.seconds} s")
    assert "worker-e2e-retired" not in broker_users(hosts)
    assert f"worker-{STAYING}" in broker_users(hosts)
    assert (
        logins({"retired": {"user": "worker-e2e-retired", "password": "retired-password-1"}})["retired"]["ok"] is False
    )


def test_a_new_worker_joins_with_one_command_and_takes_tasks(fleet, hosts, client_app):
    staying_pid = main_pid(hosts(STAYING))
    assert not hosts(NEW).file("/opt/celery-fleet").exists

    run = fleet.run("playbooks/add-worker.yml", "-e", f"worker={NEW}", workers=[STAYING, NEW])
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: add-worker.yml: {run.seconds} s")
    # Only what had to change: the hub's users and firewall, and the new host; the other worker was left alone.
    assert run.changed("e2e-hub") > 0, run.stats
    assert f"worker-{NEW}" in broker_users(hosts)
    assert main_pid(hosts(STAYING)) == staying_pid
    assert run.changed(STAYING) == 0
    assert hosts(NEW).service("celery-worker@w1").is_running
    assert address_of(fleet.hosts, NEW) in hub_ruleset(hosts)

    report, _ = run_batch(client_app, "joined", 0.05, lambda: None)
    assert_none_lost(report)
    assert report["by_host"].get(NEW, 0) > 0, report
    assert report["by_host"].get(STAYING, 0) > 0, report


def test_status_reads_the_fleet_healthy_then_names_a_stopped_worker(fleet, hosts):
    healthy = fleet.run("playbooks/status.yml", workers=[STAYING, NEW])
    print(f"report: status.yml: {healthy.seconds} s")
    assert healthy.returncode == 0, healthy.summary() + healthy.output
    hosts(NEW).check_output("systemctl stop celery-worker@w1")
    try:
        sick = fleet.run("playbooks/status.yml", "--check", workers=[STAYING, NEW])
    finally:
        hosts(NEW).check_output("systemctl start celery-worker@w1")
    assert sick.returncode != 0, sick.summary()
    problems = [result.get("msg", "") for name, _host, result in sick.results if result.get("failed")]
    assert len(problems) == 1, sick.summary()
    assert f"PROBLEM {NEW}: celery-worker@w1 is inactive" in problems[0], problems
    assert STAYING not in problems[0], problems
    # A check that changes nothing.
    assert sum(sick.changed(name) for name in (STAYING, NEW, "e2e-hub")) == 0, sick.stats


def test_logs_show_one_workers_journal_prefixed_by_its_host(fleet):
    run = fleet.run("playbooks/logs.yml", "-l", NEW, "-e", "logs_lines=30", workers=[STAYING, NEW])
    assert run.returncode == 0, run.summary() + run.output
    (text,) = [result["msg"] for name, _host, result in run.results if name.endswith("Show the journals of all hosts")]
    lines = text.splitlines()
    assert 0 < len(lines) <= 30, lines
    assert all(line.startswith(f"{NEW} | ") for line in lines), lines
    # The worker's own journal: the unit it was started and stopped as just before.
    assert any("celery-worker@w1.service" in line for line in lines), lines


def test_a_rotation_whose_hub_part_fails_leaves_the_old_account_working(fleet, hosts):
    old, pid = fleet.password(NEW), main_pid(hosts(NEW))
    hub = hosts("e2e-hub")
    # The broker's CLI gone: the hub cannot make the next account.
    hub.check_output("mv /usr/sbin/rabbitmqctl /usr/sbin/rabbitmqctl.off")
    try:
        run = fleet.run("playbooks/rotate.yml", "-e", f"worker={NEW}", workers=[STAYING, NEW])
    finally:
        hub.check_output("mv /usr/sbin/rabbitmqctl.off /usr/sbin/rabbitmqctl")
    assert run.returncode != 0, run.summary()
    # The controller keeps the account the hub has; the worker runs on with it.
    assert fleet.password(NEW) == old
    assert not (fleet.secrets / f"generation-{NEW}").exists()
    assert main_pid(hosts(NEW)) == pid
    assert logins({"current": {"user": f"worker-{NEW}", "password": old}})["current"] == {"ok": True}
    assert connections_of(hosts, f"worker-{NEW}") != []


def test_rotating_one_workers_account_refuses_none_of_its_logins_and_leaves_the_others_running(
    fleet, hosts, client_app
):
    old = fleet.password(NEW)
    other_pid = main_pid(hosts(STAYING))
    other_connections = connections_of(hosts, f"worker-{STAYING}")
    rotated_pid = main_pid(hosts(NEW))
    since = int(time.time())
    runs = []

    def rotate():
        runs.append(fleet.run("playbooks/rotate.yml", "-e", f"worker={NEW}", workers=[STAYING, NEW]))

    # e2e-worker3 starts a new pool process for each task (max_tasks_per_child 1): each opens its own connections.
    report, _ = run_batch(client_app, "rotate", 0.1, rotate)
    assert runs[0].returncode == 0, runs[0].summary() + runs[0].output
    print(f"report: rotate.yml of one worker: {runs[0].seconds} s; by worker: {report['by_host']}")
    assert_none_lost(report)
    # Not one login of the rotated worker was refused while it changed accounts.
    journal = hosts(NEW).check_output(f"journalctl --since @{since} --no-pager -o cat -u 'celery-worker@*'")
    assert [line for line in journal.splitlines() if "ACCESS_REFUSED" in line] == []
    # The other worker never stopped, nor lost a connection (it may open more under load).
    assert main_pid(hosts(STAYING)) == other_pid
    assert set(other_connections) <= set(connections_of(hosts, f"worker-{STAYING}"))
    assert report["by_host"].get(STAYING, 0) > 0, report
    # The rotated one restarted with its new account, which alone logs in now; the old one is gone.
    assert main_pid(hosts(NEW)) != rotated_pid
    new, rotated = fleet.password(NEW), f"worker-{NEW}~2"
    assert new != old
    assert f"worker-{NEW}" not in broker_users(hosts) and rotated in broker_users(hosts)
    assert connections_of(hosts, f"worker-{NEW}") == [] and connections_of(hosts, rotated) != []
    seen = logins({"old": {"user": f"worker-{NEW}", "password": old}, "new": {"user": rotated, "password": new}})
    assert seen["new"] == {"ok": True}, seen
    assert seen["old"]["ok"] is False and "Access" in seen["old"]["error"] + seen["old"]["detail"], seen


def test_a_firewall_run_moves_the_operators_address_in_seconds(fleet, hosts):
    client, outsider = hosts("e2e-client"), hosts("e2e-outsider")
    moved = outsider.interface("eth0").addresses[0]
    run = fleet.run("playbooks/firewall.yml", workers=[STAYING, NEW], operator=moved)
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: firewall.yml, the operator's address moved: {run.seconds} s")
    assert connect(outsider, "e2e-hub", 5671, timeout=10) == CONNECTED
    assert connect(client, "e2e-hub", 5671) == NO_ANSWER
    # The workers were not shut out on the way.
    assert address_of(fleet.hosts, STAYING) in hub_ruleset(hosts)

    back = fleet.run("playbooks/firewall.yml", workers=[STAYING, NEW])
    assert back.returncode == 0, back.summary() + back.output
    assert connect(client, "e2e-hub", 5671, timeout=10) == CONNECTED
    assert connect(outsider, "e2e-hub", 5671) == NO_ANSWER


def test_a_worker_removed_under_load_loses_no_task_and_leaves_nothing(fleet, hosts, client_app, tmp_path_factory):
    # First a backup, which holds the third worker's account (restored last: it must not come back).
    hub = hosts("e2e-hub")
    # Something only the broker knows, not the inventory: an operator's own policy.
    hub.check_output("""rabbitmqctl -q set_policy -p celery e2e-marker '^e2e-marker$' '{"max-length": 10}'""")
    backups = tmp_path_factory.mktemp("backups")
    backup = fleet.run("playbooks/backup.yml", "-e", f"backup_dir={backups}", workers=[STAYING, NEW])
    assert backup.returncode == 0, backup.summary() + backup.output
    print(f"report: backup.yml: {backup.seconds} s")
    (BACKUP["folder"],) = [path for path in backups.iterdir() if path.is_dir()]

    # Its account since the rotation above.
    user, password = f"worker-{NEW}~2", fleet.password(NEW)
    address = address_of(fleet.hosts, NEW)
    runs = []

    def remove():
        runs.append(fleet.run("playbooks/remove-worker.yml", "-e", f"worker={NEW}", workers=[STAYING, NEW]))

    report, removed_at = run_batch(client_app, "remove", 0.2, remove)
    run = runs[0]
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: remove-worker.yml under load: {run.seconds} s; by worker: {report['by_host']}")
    assert_none_lost(report)
    assert report["by_host"].get(NEW, 0) > 0, report
    assert report["last_by_host"].get(STAYING, 0) > removed_at, report
    # Shut out: no user, no connection left, its login refused, its address no longer let in.
    assert user not in broker_users(hosts)
    assert connections_of(hosts, user) == []
    seen = logins({"removed": {"user": user, "password": password}})
    assert seen["removed"]["ok"] is False, seen
    assert address not in hub_ruleset(hosts)
    # Nothing of the worker left on it, nor its password on the controller.
    host = hosts(NEW)
    units = host.run("systemctl list-units --all --plain --no-legend 'celery-worker@*' 'celery-beat*'").stdout
    assert units.strip() == "", units
    for path in ("/opt/celery-fleet/worker", "/etc/celery-fleet/worker", "/etc/celery-fleet/tls/ca.pem"):
        assert not host.file(path).exists, path
    assert host.run("id celery-worker").rc != 0, "the service user is still there"
    assert not (fleet.secrets / f"broker-{NEW}").exists()

    # The base the common role laid (its firewall above all) goes with uninstall.yml.
    run = fleet.run("playbooks/uninstall.yml", "-e", f"uninstall_hosts={NEW}", workers=[STAYING, NEW])
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: uninstall.yml of the removed worker: {run.seconds} s")
    assert host.run("nft list table inet celery_fleet").rc != 0, "the fleet's firewall table is still loaded"
    assert host.run("systemctl list-unit-files --no-legend 'celery-fleet*'").stdout.strip() == ""
    assert not host.file("/etc/celery-fleet").exists


def test_a_backup_comes_back_into_a_fresh_broker_without_the_worker_removed_since(fleet, hosts):
    hub, folder = hosts("e2e-hub"), BACKUP["folder"]
    definitions = folder / "rabbitmq-definitions.json"
    assert definitions.stat().st_mode & 0o077 == 0, oct(definitions.stat().st_mode)
    assert (folder / "pki" / "ca.pem").exists()
    # The backup was made while the third worker was in the fleet: its account and password are in it.
    assert f"worker-{NEW}~2" in {user["name"] for user in json.loads(definitions.read_text())["users"]}
    old_password = (folder / "credentials" / f"broker-{NEW}").read_text().strip()

    # A fresh broker: no vhost, no user but guest; the worker's connections are gone and it cannot log in.
    hub.check_output("rabbitmqctl -q stop_app && rabbitmqctl -q reset && rabbitmqctl -q start_app")
    assert broker_users(hosts) == {"guest"}

    # The operator has not yet taken the removed worker out of hosts.yml.
    restore = fleet.run("playbooks/restore.yml", "-e", f"restore_from={folder}", workers=[STAYING, NEW])
    assert restore.returncode == 0, restore.summary() + restore.output
    print(f"report: restore.yml into a fresh broker: {restore.seconds} s")
    assert {"celery", f"worker-{STAYING}"} <= broker_users(hosts)
    assert "guest" not in broker_users(hosts)
    policies = json.loads(hub.check_output("rabbitmqctl -q list_policies -p celery --formatter json"))
    # The operator's own policy and the fleet's dead-letter policy came back; so did the dead-letter queue.
    assert sorted(policy["name"] for policy in policies) == ["celery-fleet-dead-letter", "e2e-marker"], policies
    queues = json.loads(hub.check_output("rabbitmqctl -q list_queues -p celery name --formatter json"))
    assert "celery.dead-letter" in {queue["name"] for queue in queues}, queues
    # Revoked stays revoked: no account on the broker, no password on the controller, the old one refused.
    assert not any(user.startswith(f"worker-{NEW}") for user in broker_users(hosts)), broker_users(hosts)
    assert not (fleet.secrets / f"broker-{NEW}").exists()
    seen = logins({"removed": {"user": f"worker-{NEW}~2", "password": old_password}})
    assert seen["removed"]["ok"] is False, seen
    # The worker logged in again by itself: the fleet is healthy.
    deadline = time.time() + 120
    while True:
        status = fleet.run("playbooks/status.yml", workers=[STAYING])
        if status.returncode == 0 or time.time() > deadline:
            break
        time.sleep(5)
    assert status.returncode == 0, status.summary()


def test_the_last_worker_removed_with_no_operator_address_is_revoked_and_the_broker_closes(fleet, hosts):
    # The README's SSH-tunnel set-up: fleet_operator_sources is empty; no worker is left to let in.
    client = hosts("e2e-client")
    run = fleet.run("playbooks/remove-worker.yml", "-e", f"worker={STAYING}", workers=[STAYING], sources=[])
    assert run.returncode == 0, run.summary() + run.output
    print(f"report: remove-worker.yml of the last worker, no operator address: {run.seconds} s")
    assert not any(user.startswith("worker-") for user in broker_users(hosts)), broker_users(hosts)
    assert connect(client, "e2e-hub", 5671) == NO_ANSWER
