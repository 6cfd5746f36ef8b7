"""The real site.yml on default-hub and two workers of the private profile, and default-client playing the
operator's laptop: what a user of the fleet sees, and what workers.yml does to it.

The tests run in this file's order: the later ones restart and redeploy the
workers, and leave the fleet as the repository's app made it.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from checks import CONNECTED, NO_ANSWER, ROOT, connect, run_playbook

HUB = "default-hub"
WORKERS = ["default-worker1", "default-worker2"]
NODES = ["w1@default-worker1", "w1@default-worker2"]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
CLIENT_APP = "/opt/client/app"


def unit(host, name: str = "celery-worker@w1") -> dict:
    """A unit's properties, as systemctl shows them."""
    shown = host.check_output(f"systemctl show {name}")
    return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


def main_pids(hosts) -> list[int]:
    return [int(unit(hosts(name))["MainPID"]) for name in WORKERS]


def python_on_client(client, code: str) -> dict:
    """Run Python with the app's code on the client (the operator's machine); what it prints, as JSON."""
    out = client.check_output(f"cd {CLIENT_APP} && /opt/client/venv/bin/python -c %s", code)
    return json.loads(out.splitlines()[-1])


def restarted_in_order(before: list[int], after: list[dict]) -> bool:
    """Every worker has a new main process, and the second began to stop only after the first was back."""
    pids = [int(state["MainPID"]) for state in after]
    first, second = sorted(after, key=lambda state: int(state["ActiveExitTimestampMonotonic"]))
    return (
        not set(pids) & set(before)
        and all(pid > 0 for pid in pids)
        and int(second["ActiveExitTimestampMonotonic"]) > int(first["ActiveEnterTimestampMonotonic"])
    )


@pytest.mark.parametrize("name", [HUB, *WORKERS])
def test_every_host_is_behind_the_firewall(hosts, name):
    firewall = hosts(name).service("celery-fleet-firewall")
    assert firewall.is_running
    assert firewall.is_enabled


def test_the_hubs_services_listen_on_its_private_address_and_workers_use_plaintext(hosts):
    hub = hosts(HUB)
    address = hub.check_output("ip -4 -o addr show scope global").split()[3].split("/")[0]
    listed = json.loads(hub.check_output("rabbitmq-diagnostics --quiet listeners --formatter json"))
    amqp = sorted(
        f"{x['protocol']} {x['port']} on {x['interface']}"
        for x in listed["listeners"]
        if x["protocol"].startswith("amqp")
    )
    assert amqp == [f"amqp 5672 on {address}", f"amqp/ssl 5671 on {address}"]
    established = hub.check_output(
        "ss --tcp --numeric --no-header state established '( sport = :5672 or sport = :5671 )'"
    )
    peers = [line.split()[3] for line in established.splitlines() if line.split()[2].endswith(":5672")]
    assert len(peers) >= 2 and len({peer.rsplit(":", 1)[0] for peer in peers}) == 2, peers
    for name in WORKERS:
        assert '"amqp://' in hosts(name).file("/etc/celery-fleet/worker/celeryconfig.py").content_string, name


def test_only_ssh_is_open_on_a_worker(hosts):
    worker = hosts("default-worker1")
    worker.run("systemd-run --unit=test-listener /usr/bin/python3 -m http.server 5555")
    for _ in range(20):
        if connect(worker, "127.0.0.1", 5555) == CONNECTED:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the test listener did not start on the worker")
    hub = hosts(HUB)
    assert connect(hub, "default-worker1", 22, timeout=10) == CONNECTED
    assert connect(hub, "default-worker1", 5555) == NO_ANSWER


@pytest.mark.parametrize("name", WORKERS)
def test_the_worker_unit_runs_sandboxed_as_the_service_user(hosts, name):
    host = hosts(name)
    state = unit(host)
    expected = {
        "ActiveState": "active",
        "UnitFileState": "enabled",
        "KillMode": "mixed",
        "User": "celery-worker",
        "NoNewPrivileges": "yes",
        "MemoryDenyWriteExecute": "yes",
    }
    assert {key: state.get(key) for key in expected} == expected
    # The main process and its pool (two processes) run as celery-worker.
    users = host.check_output(f"ps -o user= --ppid {state['MainPID']} -p {state['MainPID']}").split()
    assert users == ["celery-worker"] * 3, users
    settings = host.file("/etc/celery-fleet/worker/celeryconfig.py")
    assert (settings.user, settings.group, settings.mode) == ("root", "celery-worker", 0o640)
    rating = host.check_output("systemd-analyze security --no-pager celery-worker@w1.service")
    exposure = float(rating.rsplit("Overall exposure level for", 1)[1].split(":", 1)[1].split()[0])
    print(f"report: {name}: systemd-analyze security exposure {exposure}")
    assert exposure <= 2.0


def test_controller_yml_renders_the_operators_settings_and_a_second_run_changes_nothing(inventory):
    args = ("-e", "controller_hosts=default-client", "-e", f"controller_output_dir={CLIENT_APP}")
    first = run_playbook(inventory, "controller.yml", *args)
    assert first.returncode == 0, first.summary() + first.output
    again = run_playbook(inventory, "controller.yml", *args)
    assert again.returncode == 0 and again.stats, again.summary()
    assert sum(again.changed(host) for host in again.stats) == 0, again.summary()


def test_from_the_client_every_worker_answers_and_runs_tasks(hosts):
    client = hosts("default-client")
    celery = f"cd {CLIENT_APP} && /opt/client/venv/bin/celery --app proj inspect"
    assert sorted(json.loads(client.check_output(f"{celery} active --json --timeout 5"))) == NODES
    pong = json.loads(client.check_output(f"{celery} ping --json --timeout 5"))
    assert sorted(pong) == NODES and {reply["ok"] for reply in pong.values()} == {"pong"}
    results = python_on_client(
        client,
        "import json\n"
        "from proj.tasks import add, sleep, word_count\n"
        "print(json.dumps({'add': add.delay(2, 3).get(timeout=60),"
        " 'words': word_count(['the cat sat', 'The dog sat down', 'a cat']),"
        " 'sleep': sleep.delay(0.1).get(timeout=60)}))\n",
    )
    assert results["add"] == 5
    assert results["words"] == {"cat": 2, "sat": 2, "the": 2, "a": 1, "dog": 1, "down": 1}
    assert results["sleep"]["hostname"] in WORKERS


def test_a_large_batch_sent_through_celery_fleet_submit_is_confirmed_in_order_and_every_result_returns(hosts):
    client = hosts("default-client")
    # A window smaller than the batch: the sender waits for acks several times on the way.
    sent = python_on_client(
        client,
        "import json, time\n"
        "from celery.result import ResultSet\n"
        "from celery_fleet_submit import submit\n"
        "from proj.tasks import add\n"
        "start = time.monotonic()\n"
        "results = submit((add.s(i, i) for i in range(3000)), window=500)\n"
        "submitted = time.monotonic() - start\n"
        "chunked = submit(add.chunks([(i, 1) for i in range(1000)], 100).group().tasks)\n"
        "print(json.dumps({'values': ResultSet(results).get(timeout=300), 'ids': len({r.id for r in results}),"
        " 'chunks': ResultSet(chunked).get(timeout=300), 'submit_s': submitted}))\n",
    )
    print(f"report: celery_fleet_submit: 3000 add confirmed in {sent['submit_s']:.1f} s")
    assert sent["values"] == [2 * i for i in range(3000)]
    assert sent["ids"] == 3000
    assert [value for chunk in sent["chunks"] for value in chunk] == [i + 1 for i in range(1000)]


def test_a_task_longer_than_the_limit_fails_cleanly_and_no_worker_crashes(hosts):
    # fleet_task_time_limit is 10 s: Celery ends the 150 s task at the limit,
    # once, and the worker goes on (the broker has no consumer timeout to
    # do it later, closing the worker's channel, the task run again elsewhere).
    restarts_before = [unit(hosts(name))["NRestarts"] for name in WORKERS]
    seen = python_on_client(
        hosts("default-client"),
        "import json, time\n"
        "from proj.tasks import sleep\n"
        "short, long = sleep.delay(3), sleep.delay(150)\n"
        "started = time.monotonic()\n"
        "out = {'ids': [short.id, long.id], 'short': short.get(timeout=60)['slept']}\n"
        "try:\n"
        "    long.get(timeout=60)\n"
        "    out['long'] = 'succeeded'\n"
        "except Exception as error:\n"
        "    out['long'] = type(error).__name__\n"
        "out['long_state'], out['seconds'] = long.state, round(time.monotonic() - started, 1)\n"
        "print(json.dumps(out))\n",
    )
    assert seen["short"] == 3
    assert (seen["long"], seen["long_state"]) == ("SoftTimeLimitExceeded", "FAILURE")
    # Stopped at the 10 s limit, far before 150 s or the broker's 100 s.
    assert seen["seconds"] < 30, seen
    journals = [
        hosts(name).check_output("journalctl --no-pager --unit 'celery-worker@*' --output cat") for name in WORKERS
    ]
    for task_id in seen["ids"]:
        received = sum(journal.count(f"Task proj.tasks.sleep[{task_id}] received") for journal in journals)
        assert received == 1, (task_id, received)
    assert [unit(hosts(name))["NRestarts"] for name in WORKERS] == restarts_before


LOAD = """
import json, os
from proj.tasks import sleep
results = [sleep.delay(0.5) for _ in range(200)]
open("/var/tmp/verify-load.sent", "w").write(str(len(results)))
done = [result.get(timeout=600) for result in results]
json.dump(done, open("/var/tmp/verify-load.tmp", "w"))
os.rename("/var/tmp/verify-load.tmp", "/var/tmp/verify-load.json")
"""


def wait_for_file(host, path: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while not host.file(path).exists:
        assert time.time() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(1)


def test_a_rolling_restart_while_200_tasks_are_queued_loses_none(hosts, inventory):
    client = hosts("default-client")
    before = main_pids(hosts)
    client.run("rm -f /var/tmp/verify-load.sent /var/tmp/verify-load.json")
    client.check_output("printf %%s %s > /opt/client/load.py", LOAD)
    client.check_output(
        "systemd-run --unit=verify-load --collect --property=WorkingDirectory=/opt/client/app "
        "--setenv=PYTHONPATH=/opt/client/app /opt/client/venv/bin/python /opt/client/load.py"
    )
    wait_for_file(client, "/var/tmp/verify-load.sent", 60)
    restart = run_playbook(inventory, "workers.yml", "--tags", "restart")
    assert restart.returncode == 0, restart.summary() + restart.output
    wait_for_file(client, "/var/tmp/verify-load.json", 300)
    results = json.loads(client.file("/var/tmp/verify-load.json").content_string)
    after = [unit(hosts(name)) for name in WORKERS]
    assert restarted_in_order(before, after), (before, [state["MainPID"] for state in after])
    assert len(results) == 200 and {result["slept"] for result in results} == {0.5}
    # Tasks ran on the old processes and on the new ones.
    ran_on = {int(result["worker_pid"]) for result in results}
    assert ran_on & set(before), ran_on
    assert ran_on & {int(state["MainPID"]) for state in after}, ran_on


@pytest.fixture(scope="module")
def app_versions(tmp_path_factory) -> Path:
    """Two versions of the app on the controller: a new one, and one that fails at import."""
    apps = tmp_path_factory.mktemp("apps")
    source = ROOT / "app"
    for version in ("new", "broken"):
        shutil.copytree(source, apps / version, ignore=shutil.ignore_patterns("celeryconfig.py", "controller"))
    with open(apps / "new" / "proj" / "tasks.py", "a") as tasks:
        tasks.write("# A new version of the app.\n")
    # The new version has a file only its owner may read, and a .env beside it.
    (apps / "new" / "proj" / "token.txt").write_text("read by the app only\n")
    (apps / "new" / ".env").write_text("API_TOKEN=never-on-a-worker\n")
    for path in (apps / "new" / "proj" / "token.txt", apps / "new" / ".env"):
        os.chmod(path, 0o600)
    with open(apps / "broken" / "proj" / "__init__.py", "a") as package:
        package.write('raise ImportError("a broken release")\n')
    return apps


def test_a_new_version_is_deployed_one_batch_at_a_time_and_a_broken_one_is_refused_before_any_restart(
    hosts, inventory, app_versions
):
    before = main_pids(hosts)
    new = run_playbook(inventory, "workers.yml", "-e", f"celery_worker_app_source={app_versions / 'new'}")
    assert new.returncode == 0, new.summary() + new.output
    after = [unit(hosts(name)) for name in WORKERS]
    assert restarted_in_order(before, after)
    # The new release is what runs, and only it and the one before are kept.
    for name in WORKERS:
        worker = hosts(name)
        assert "# A new version of the app." in worker.file("/opt/celery-fleet/worker/app/proj/tasks.py").content_string
        releases = worker.check_output("ls -d /opt/celery-fleet/worker/app-*").split()
        assert len(releases) <= 2, releases
    # The .env stayed on the controller, named by the preflight before any host changed, and by the deploy.
    named = [(name, result["secrets_left_out"]) for name, _host, result in new.results if "secrets_left_out" in result]
    assert any("Check the app folder on the controller" in name for name, _left in named), named
    assert any("Pack the app on the controller" in name for name, _left in named), named
    assert {tuple(left) for _name, left in named} == {(".env",)}, named
    for name in WORKERS:
        worker, app = hosts(name), "/opt/celery-fleet/worker/app"
        token = worker.file(f"{app}/proj/token.txt")
        assert (token.user, token.group, token.mode) == ("root", "celery-worker", 0o640), name
        assert not worker.file(f"{app}/.env").exists, name
        # The service reads the app; no other user of the worker reads any of it.
        assert worker.run(f"runuser -u celery-worker -- cat {app}/proj/token.txt").rc == 0, name
        assert worker.run(f"runuser -u nobody -- cat {app}/proj/token.txt").rc != 0, name
        readable = worker.check_output(f"find {app}/ -perm /o=rwx -not -type l -not -name .celery-fleet-app")
        assert readable == "", (name, readable)

    links = app_links(hosts)
    broken = run_playbook(inventory, "workers.yml", "-e", f"celery_worker_app_source={app_versions / 'broken'}")
    try:
        assert broken.returncode != 0, broken.summary()
        refusals = [
            result.get("msg", "")
            for name, _host, result in broken.results
            if result.get("failed") and "Stop on an app that does not import" in name
        ]
        assert refusals and "ImportError: a broken release" in refusals[0], broken.summary()
        # Refused while every worker made it ready, before any batch: both run on, with the version before.
        assert main_pids(hosts) == [int(state["MainPID"]) for state in after]
        assert [unit(hosts(name))["ActiveState"] for name in WORKERS] == ["active", "active"]
        assert app_links(hosts) == links
        assert not any("Point the links at the new release" in name for name, _host, _result in broken.results)
    finally:
        # The repository's app again.
        again = run_playbook(inventory, "workers.yml")
        assert again.returncode == 0, again.summary() + again.output


def venv_links(hosts) -> list[str]:
    return [hosts(name).file("/opt/celery-fleet/worker/venv").linked_to for name in WORKERS]


def app_links(hosts) -> list[str]:
    return [hosts(name).file("/opt/celery-fleet/worker/app").linked_to for name in WORKERS]


def deploy_batches(run) -> int:
    """How many batches a workers.yml run switched the workers in (its deploy play starts once a batch)."""
    return run.plays.count("Deploy the workers, one batch at a time")


def test_workers_that_run_nothing_are_deployed_together(hosts, inventory):
    for name in WORKERS:
        hosts(name).check_output("systemctl stop celery-worker@w1")
    together = run_playbook(inventory, "workers.yml")
    assert together.returncode == 0, together.summary() + together.output
    assert [unit(hosts(name))["ActiveState"] for name in WORKERS] == ["active", "active"]
    assert deploy_batches(together) == 1, together.plays


def test_a_second_run_of_workers_yml_and_check_mode_change_nothing(hosts, inventory):
    again = run_playbook(inventory, "workers.yml")
    assert again.returncode == 0 and set(WORKERS) <= set(again.stats), again.summary()
    assert [again.changed(name) for name in WORKERS] == [0, 0], again.summary()
    # Both run workers: one batch each (25%, at least one host).
    assert deploy_batches(again) == 2, again.plays
    links = venv_links(hosts)
    same = run_playbook(inventory, "workers.yml", "--check")
    assert same.returncode == 0 and [same.changed(name) for name in WORKERS] == [0, 0], same.summary()
    # Other pip arguments ask for another virtualenv: check mode says so on
    # both workers and builds nothing.
    other = run_playbook(inventory, "workers.yml", "--check", "-e", "celery_worker_pip_extra_args=--no-cache-dir")
    assert other.returncode == 0 and all(other.changed(name) > 0 for name in WORKERS), other.summary()
    assert venv_links(hosts) == links


def test_the_virtualenv_is_built_on_one_worker_and_unpacked_on_the_other(hosts):
    links = venv_links(hosts)
    assert len(set(links)) == 1 and re.fullmatch(r"venv-[0-9a-f]{12}", links[0].rsplit("/", 1)[-1]), links
    for name in WORKERS:
        host = hosts(name)
        assert host.file("/opt/celery-fleet/worker/venv").is_symlink
        assert not host.file("/opt/celery-fleet/worker/venv/bin/pip").exists, name
        # Only the building worker needed the venv package.
        assert host.package("python3-venv").is_installed is (name == "default-worker1"), name
    # The controller kept the archive the second worker was given.
    assert len(list((EPHEMERAL / "venv-cache").glob("venv-*.tar.gz"))) == 1


def test_a_virtualenv_that_cannot_be_built_changes_nothing_that_runs(hosts, inventory):
    pids, links = main_pids(hosts), venv_links(hosts)
    # Other pip arguments make another virtualenv; this index (a closed port
    # on loopback) has no packages, so pip fails on the first worker.
    broken = run_playbook(
        inventory,
        "workers.yml",
        "-e",
        "celery_worker_pip_extra_args='--index-url http://127.0.0.1:9/simple --retries 0 --timeout 2'",
    )
    assert broken.returncode != 0, broken.summary()
    first_failure = broken.failed_tasks("default-worker1")[:1]
    assert first_failure and "Build the virtualenv with pip" in first_failure[0], broken.summary()
    assert all(pid > 0 for pid in pids)
    assert main_pids(hosts) == pids
    assert venv_links(hosts) == links
    # No half-built folder stays behind.
    for name in WORKERS:
        folders = hosts(name).check_output("find /opt/celery-fleet/worker -maxdepth 1 -type d -name 'venv-*'")
        assert len(folders.split()) == 1, (name, folders)


def test_fewer_instances_per_host_stop_and_disable_the_extra_ones(hosts, inventory):
    worker = hosts("default-worker2")
    # workers.yml waits until every instance answers a ping through the broker.
    two = run_playbook(inventory, "workers.yml", "--limit", "default-worker2", "-e", "celery_worker_instances=2")
    assert two.returncode == 0, two.summary()
    running = unit(worker, "celery-worker@w2")
    one = run_playbook(inventory, "workers.yml", "--limit", "default-worker2")
    assert one.returncode == 0, one.summary()
    stopped = unit(worker, "celery-worker@w2")
    assert (running["ActiveState"], running["UnitFileState"]) == ("active", "enabled")
    assert (stopped["ActiveState"], stopped["UnitFileState"]) == ("inactive", "disabled")
