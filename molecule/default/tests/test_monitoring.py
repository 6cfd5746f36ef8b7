"""Monitoring on default-hub (fleet_monitoring): Flower on loopback behind its login, fed by the workers' task
events, with a broker user that can touch no task; seen from the hub itself, the workers and the client.

Runs after test_fleet.py, on the fleet as it left it (the repository's app, one instance per worker).
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from browser import Browser, missing
from checks import CONNECTED, ROOT, connect

HUB = "default-hub"
WORKERS = ["default-worker1", "default-worker2"]
NODES = ["w1@default-worker1", "w1@default-worker2"]
CLIENT_APP = "/opt/client/app"
# molecule.yml: fleet_flower_user's default and the canary password.
LOGIN = ("operator", "canary-flower-login-7c1e5b")
FLOWER_PYTHON = "/opt/celery-fleet/flower/venv/bin/python"
# The forwards listen on the controller's loopback, 20000 above the hub's ports.
OFFSET = 20000
SCREENSHOTS = ROOT / ".test-logs" / "screenshots"


def flower(hub, path: str, login: tuple[str, str] | None = None) -> tuple[int, object]:
    """GET Flower's `path` on the hub's loopback, with or without a login: the status and the JSON body."""
    code = (
        "import base64, json, sys, urllib.error, urllib.request\n"
        "path, user, password = sys.argv[1:4]\n"
        "request = urllib.request.Request('http://127.0.0.1:5555' + path)\n"
        "if user:\n"
        "    token = base64.b64encode(f'{user}:{password}'.encode()).decode()\n"
        "    request.add_header('Authorization', 'Basic ' + token)\n"
        "try:\n"
        "    with urllib.request.urlopen(request, timeout=30) as answer:\n"
        "        body = answer.read().decode()\n"
        "        print(json.dumps([answer.status, json.loads(body) if body.startswith(('{', '[')) else body]))\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(json.dumps([error.code, None]))\n"
    )
    user, password = login or ("", "")
    out = hub.check_output("python3 -c %s %s %s %s", code, path, user, password)
    status, body = json.loads(out)
    return status, body


def test_flower_runs_sandboxed_as_its_own_user_on_loopback_only(hosts):
    hub = hosts(HUB)
    shown = hub.check_output("systemctl show celery-fleet-flower")
    state = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    expected = {"ActiveState": "active", "UnitFileState": "enabled", "User": "flower", "NoNewPrivileges": "yes"}
    assert {key: state.get(key) for key in expected} == expected
    listening = hub.check_output("ss --tcp --listening --numeric --no-header '( sport = :5555 )'").split("\n")
    assert [line.split()[3] for line in listening if line] == ["127.0.0.1:5555"]
    rating = hub.check_output("systemd-analyze security --no-pager celery-fleet-flower.service")
    exposure = float(rating.rsplit("Overall exposure level for", 1)[1].split(":", 1)[1].split()[0])
    print(f"report: Flower: systemd-analyze security exposure {exposure}")
    assert exposure <= 2.0


@pytest.mark.parametrize("name", ["default-client", *WORKERS])
def test_no_other_host_reaches_flower(hosts, name):
    hub_address = hosts(HUB).check_output("ip -4 -o addr show scope global").split()[3].split("/")[0]
    assert connect(hosts(name), hub_address, 5555) != CONNECTED


def test_flower_refuses_a_missing_or_wrong_login(hosts):
    hub = hosts(HUB)
    assert flower(hub, "/api/workers")[0] == 401
    assert flower(hub, "/api/workers", (LOGIN[0], "not-the-password"))[0] == 401
    assert flower(hub, "/", LOGIN)[0] == 200


def test_flower_lists_every_worker_online(hosts):
    hub = hosts(HUB)
    deadline = time.monotonic() + 60
    while True:
        status, workers = flower(hub, "/api/workers?refresh=1", LOGIN)
        if (status == 200 and sorted(workers) == NODES) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == 200 and sorted(workers) == NODES, workers


def test_a_task_sent_from_the_client_shows_succeeded_with_its_runtime(hosts):
    client = hosts("default-client")
    out = client.check_output(
        f"cd {CLIENT_APP} && /opt/client/venv/bin/python -c %s",
        "from proj.tasks import add\nresult = add.delay(2, 3)\nassert result.get(timeout=60) == 5\nprint(result.id)\n",
    )
    task_id = out.splitlines()[-1]
    hub = hosts(HUB)
    deadline = time.monotonic() + 30
    while True:
        status, task = flower(hub, f"/api/task/info/{task_id}", LOGIN)
        if (status == 200 and task.get("state") == "SUCCESS") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 200 and task["state"] == "SUCCESS", task
    assert task["name"] == "proj.tasks.add" and task["worker"] in NODES, task
    assert 0 < task["runtime"] < 10, task


def test_flowers_broker_user_can_neither_take_nor_send_a_task(hosts):
    # Flower's own settings and virtualenv, on the hub: its user may read its event queues only.
    code = (
        "import json, amqp, celeryconfig\n"
        "from kombu import Connection\n"
        "seen = {}\n"
        "for what in ('take', 'send'):\n"
        "    with Connection(celeryconfig.broker_url, ssl=celeryconfig.broker_use_ssl) as connection:\n"
        "        channel = connection.channel()\n"
        "        try:\n"
        "            if what == 'take':\n"
        "                channel.basic_get('celery')\n"
        "            else:\n"
        "                channel.basic_publish(amqp.Message('{}'), exchange='celery', routing_key='celery')\n"
        "                channel.basic_get('celeryev.none')\n"
        "            seen[what] = 'allowed'\n"
        "        except Exception as error:\n"
        "            seen[what] = type(error).__name__\n"
        "print(json.dumps(seen))\n"
    )
    out = hosts(HUB).check_output(f"cd /etc/celery-fleet/flower && {FLOWER_PYTHON} -c %s", code)
    assert json.loads(out.splitlines()[-1]) == {"take": "AccessRefused", "send": "AccessRefused"}


def send_add(hosts) -> str:
    """add(2, 3) sent from the client and its result read back: the task's id."""
    out = hosts("default-client").check_output(
        f"cd {CLIENT_APP} && /opt/client/venv/bin/python -c %s",
        "from proj.tasks import add\nresult = add.delay(2, 3)\nassert result.get(timeout=60) == 5\nprint(result.id)\n",
    )
    return out.splitlines()[-1]


@pytest.fixture(scope="module")
def tunnel(inventory):
    """scripts/fleet_tunnel.py on this machine (the operator's), through SSH to default-hub, as documented."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "fleet_tunnel.py"), "-i", inventory, "--offset", str(OFFSET)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not port_answers(5555 + OFFSET):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the tunnel did not open: {process.communicate()[0]}")
        time.sleep(0.5)
    yield f"http://127.0.0.1:{5555 + OFFSET}"
    process.terminate()
    process.wait(timeout=10)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_through_the_tunnel_flower_answers_on_this_machine(tunnel):
    with urllib.request.urlopen(f"{tunnel}/healthcheck", timeout=10) as answer:
        assert (answer.status, answer.read()) == (200, b"OK")


def test_in_a_browser_flower_asks_for_its_login_then_shows_the_workers_and_a_task(hosts, tunnel):
    # scripts/platform.sh installs chromium: without it this fails, it never skips.
    assert not missing(), missing()
    task_id = send_add(hosts)
    with Browser() as browser:
        browser.open(f"{tunnel}/workers")
        assert not any(node in browser.text() for node in NODES)
        browser.login(*LOGIN)
        browser.open(f"{tunnel}/workers")
        shown = browser.wait_for_text([*NODES, "Online"])
        assert all(node in shown for node in NODES), shown
        browser.screenshot(SCREENSHOTS / "flower-workers.png")
        browser.open(f"{tunnel}/task/{task_id}")
        shown = browser.wait_for_text(["SUCCESS", "proj.tasks.add"])
        assert "SUCCESS" in shown and "proj.tasks.add" in shown, shown
        browser.screenshot(SCREENSHOTS / "flower-task.png")
