"""Monitoring on default-hub (fleet_monitoring): Flower on loopback behind its login, fed by the workers' task
events, with a broker user that can touch no task; Prometheus scraping the broker, Flower, the node exporters and
the broker's certificate, its alerts tested by promtool and one fired for real; every port closed to the other
hosts and open through scripts/fleet_tunnel.py on this machine, where a browser looks at the pages.

Runs after test_fleet.py, on the fleet as it left it (the repository's app, one instance per worker); the last
test stops the workers and starts them again.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote

import pytest
from browser import Browser, missing
from checks import CONNECTED, ROOT, connect, playbook, run_playbook

HUB = "default-hub"
WORKERS = ["default-worker1", "default-worker2"]
NODES = ["w1@default-worker1", "w1@default-worker2"]
CLIENT_APP = "/opt/client/app"
# molecule.yml: fleet_flower_user's default and the canary password.
LOGIN = ("operator", "canary-flower-login-7c1e5b")
FLOWER_PYTHON = "/opt/celery-fleet/flower/venv/bin/python"
# Every monitoring port on the hub: Flower, Prometheus, Alertmanager, the blackbox and node exporters, RabbitMQ's
# Prometheus endpoint.
HUB_PORTS = [5555, 9090, 9093, 9100, 9115, 15692]
# The forwards listen on the controller's loopback, 20000 above the hub's ports.
OFFSET = 20000
SCREENSHOTS = ROOT / ".test-logs" / "screenshots"
# The webhook receiver molecule.yml names (prometheus_alert_webhook_url): each POST's body, one per line.
WEBHOOK_UNIT = "celery-fleet-test-webhook"
WEBHOOK_LOG = "/run/celery-fleet-test-webhook.jsonl"
WEBHOOK_CODE = (
    "import http.server, sys\n"
    "class Receiver(http.server.BaseHTTPRequestHandler):\n"
    "    def do_POST(self):\n"
    "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
    "        with open(sys.argv[1], 'ab') as log:\n"
    "            log.write(body.replace(b'\\n', b' ') + b'\\n')\n"
    "        self.send_response(200)\n"
    "        self.end_headers()\n"
    "http.server.HTTPServer(('127.0.0.1', 9099), Receiver).serve_forever()\n"
)


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


def prometheus(hub, path: str) -> dict:
    """GET Prometheus's (or, from port 9093, Alertmanager's) API on the hub's loopback: the JSON answer."""
    url = path if path.startswith("http") else f"http://127.0.0.1:9090{path}"
    return json.loads(
        hub.check_output(
            "python3 -c %s %s",
            "import sys, urllib.request\nprint(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())",
            url,
        )
    )


def query(hub, expression: str) -> float | None:
    """The value of an instant query that yields one number, or None when it yields nothing."""
    result = prometheus(hub, f"/api/v1/query?query={quote(expression)}")["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_broker_flower_every_node_and_the_certificate(hosts):
    hub = hosts(HUB)
    deadline = time.monotonic() + 90
    while True:
        targets = prometheus(hub, "/api/v1/targets?state=active")["data"]["activeTargets"]
        health = {(target["labels"]["job"], target["labels"]["instance"]): target["health"] for target in targets}
        if (health and all(state == "up" for state in health.values())) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert health and all(state == "up" for state in health.values()), health
    jobs = {job for job, _instance in health}
    assert {"rabbitmq", "flower", "node"} <= jobs, jobs
    workers = {hosts(name).check_output("ip -4 -o addr show scope global").split()[3].split("/")[0] for name in WORKERS}
    nodes = {instance.rsplit(":", 1)[0] for job, instance in health if job == "node"}
    assert nodes == {"127.0.0.1"} | workers, nodes
    # The certificate the broker serves, as a client sees it: months away from its end.
    days = query(hub, "min(probe_ssl_earliest_cert_expiry - time()) / 86400")
    assert days is not None and days > 21, days


@pytest.mark.parametrize("name", ["default-client", *WORKERS])
def test_no_other_host_reaches_a_monitoring_port_of_the_hub(hosts, name):
    hub_address = hosts(HUB).check_output("ip -4 -o addr show scope global").split()[3].split("/")[0]
    assert [port for port in HUB_PORTS if connect(hosts(name), hub_address, port) == CONNECTED] == []


@pytest.mark.parametrize("name", WORKERS)
def test_a_workers_node_exporter_answers_the_hub_only(hosts, name):
    address = hosts(name).check_output("ip -4 -o addr show scope global").split()[3].split("/")[0]
    assert connect(hosts(HUB), address, 9100) == CONNECTED
    assert connect(hosts("default-client"), address, 9100) != CONNECTED
    other = next(worker for worker in WORKERS if worker != name)
    assert connect(hosts(other), address, 9100) != CONNECTED


def test_promtool_tests_every_alert_rule_on_the_hub(inventory, tmp_path):
    body = """
- name: Test the alert rules with promtool
  hosts: hub
  gather_facts: false
  tasks:
    - name: Run promtool test rules
      ansible.builtin.include_role:
        name: prometheus
        tasks_from: test_rules
"""
    result = playbook(inventory, body, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


def test_while_1000_tasks_run_the_queue_depth_and_the_task_counters_move(hosts):
    hub = hosts(HUB)
    succeeded = 'sum(flower_events_total{type="task-succeeded", task="proj.tasks.sleep"}) or vector(0)'
    before = query(hub, succeeded) or 0
    started = time.monotonic()
    hosts("default-client").check_output(
        f"cd {CLIENT_APP} && /opt/client/venv/bin/python -c %s",
        "from celery import group\nfrom proj.tasks import sleep\n"
        "result = group(sleep.s(0.1) for _ in range(1000)).apply_async()\n"
        "assert len(result.get(timeout=600)) == 1000\n",
    )
    took = time.monotonic() - started
    time.sleep(20)  # one more scrape of Flower and the broker
    window = f"{int(time.monotonic() - started) + 30}s"
    depth = query(hub, f'max_over_time(rabbitmq_detailed_queue_messages_ready{{queue="celery"}}[{window}])')
    after = query(hub, succeeded) or 0
    print(f"report: 1000 tasks in {took:.0f} s; deepest queue scraped {depth}; succeeded counter +{after - before}")
    assert depth is not None and depth >= 50, depth
    assert after - before >= 1000, (before, after)


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


def test_through_the_tunnel_prometheus_and_alertmanager_answer(tunnel):
    for port in (9090, 9093):
        with urllib.request.urlopen(f"http://127.0.0.1:{port + OFFSET}/-/ready", timeout=10) as answer:
            assert answer.status == 200, port


def test_in_a_browser_prometheus_graphs_the_tasks_that_succeeded(tunnel):
    assert not missing(), missing()
    expression = 'sum(rate(flower_events_total{type="task-succeeded"}[1m]))'
    url = f"http://127.0.0.1:{9090 + OFFSET}/graph?g0.expr={quote(expression)}&g0.tab=0&g0.range_input=15m"
    with Browser() as browser:
        browser.open(url)
        shown = browser.wait_for_text(["flower_events_total", "Execute"])
        assert "flower_events_total" in shown, shown
        time.sleep(3)  # the graph draws after the query returns
        browser.screenshot(SCREENSHOTS / "prometheus-graph.png")


def webhook_notifications(hub) -> list[dict]:
    out = hub.check_output("cat %s 2>/dev/null || true", WEBHOOK_LOG)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_with_the_workers_stopped_no_worker_online_fires_within_its_delay(hosts):
    hub = hosts(HUB)
    hub.check_output(
        "rm -f %s; systemd-run --unit=%s --collect python3 -c %s %s",
        WEBHOOK_LOG,
        WEBHOOK_UNIT,
        WEBHOOK_CODE,
        WEBHOOK_LOG,
    )
    for name in WORKERS:
        hosts(name).check_output("systemctl stop celery-worker@w1")
    stopped = time.monotonic()
    try:
        # prometheus_alert_no_worker_for (1m), plus a scrape and an evaluation (15 s each) and a margin.
        deadline = stopped + 150
        firing = []
        while time.monotonic() < deadline:
            alerts = prometheus(hub, "/api/v1/alerts")["data"]["alerts"]
            firing = [
                a for a in alerts if a["labels"]["alertname"] == "CeleryNoWorkerOnline" and a["state"] == "firing"
            ]
            if firing:
                break
            time.sleep(5)
        took = time.monotonic() - stopped
        print(f"report: CeleryNoWorkerOnline firing {took:.0f} s after the workers stopped")
        assert firing, alerts
        # Handed to Alertmanager (no receiver by default: it is listed there).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = prometheus(hub, "http://127.0.0.1:9093/api/v2/alerts")
            if any(a["labels"]["alertname"] == "CeleryNoWorkerOnline" for a in held):
                break
            time.sleep(3)
        assert any(a["labels"]["alertname"] == "CeleryNoWorkerOnline" for a in held), held
        # And delivered to the operator's webhook (after the route's group_wait, 30 s), firing.
        fired = time.monotonic()
        deadline = fired + 90
        delivered = []
        while time.monotonic() < deadline and not delivered:
            delivered = [
                n
                for n in webhook_notifications(hub)
                if n["status"] == "firing"
                and any(a["labels"]["alertname"] == "CeleryNoWorkerOnline" for a in n["alerts"])
            ]
            time.sleep(3)
        print(f"report: CeleryNoWorkerOnline delivered to the webhook {time.monotonic() - fired:.0f} s after firing")
        assert delivered, webhook_notifications(hub)
    finally:
        hub.run("systemctl stop %s", WEBHOOK_UNIT)
        for name in WORKERS:
            hosts(name).check_output("systemctl start celery-worker@w1")


def test_turned_off_the_next_site_yml_leaves_nothing_of_it(hosts, inventory):
    result = run_playbook(inventory, "site.yml", "-e", "fleet_monitoring=false")
    assert result.returncode == 0, result.summary() + result.output
    # On the workers only the node exporter was monitoring's (test_fleet.py leaves a listener of its own on 5555).
    for name, ports_of_monitoring in [(HUB, HUB_PORTS), *[(worker, [9100]) for worker in WORKERS]]:
        host = hosts(name)
        listening = host.check_output("ss --tcp --listening --numeric --no-header").splitlines()
        ports = {int(line.split()[3].rsplit(":", 1)[1]) for line in listening if line.strip()}
        assert ports.isdisjoint(ports_of_monitoring), (name, sorted(ports))
        installed = host.check_output("dpkg-query -W -f='${Package} ${Status}\\n' 'prometheus*' || true")
        assert "install ok installed" not in installed, (name, installed)
        assert not host.file("/etc/celery-fleet/monitoring").exists, name
    hub = hosts(HUB)
    assert not hub.file("/opt/celery-fleet/flower").exists
    users = hub.check_output("rabbitmqctl --quiet list_users --formatter json")
    assert "flower" not in {user["user"] for user in json.loads(users)}
    for name in WORKERS:
        settings = hosts(name).file("/etc/celery-fleet/worker/celeryconfig.py").content_string
        assert "worker_send_task_events" not in settings, name
