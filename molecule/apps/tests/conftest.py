"""What the apps checks share: the site's record, sending fetches from the operator's machine, and the hubs (the
three nodes as RabbitMQ sees them, where the workers connect)."""

import json
import shutil
import time
from pathlib import Path

import pytest
from checks import ROOT, probe

CLIENT = "apps-client"
APP_DIR = "/opt/client/crawler"
VENV = "/opt/client/venv"
BASE = "http://apps-pages:8080"
TESTS = Path(__file__).resolve().parent
# The scheduler moves to apps-worker2 with the second release, and stays there (a host variable, per host).
BEAT_ON_WORKER2 = ["-e", '{"celery_worker_beat": "{{ inventory_hostname == \'apps-worker2\' }}"}']
HUBS = ["apps-hub1", "apps-hub2", "apps-hub3"]
NODES = [f"rabbit@{hub}" for hub in HUBS]
WORKERS = ["apps-worker1", "apps-worker2"]


def cluster_status(host) -> dict:
    """`rabbitmqctl cluster_status` on one hub; {} when its node does not answer."""
    result = host.run("rabbitmqctl --quiet cluster_status --formatter json")
    return json.loads(result.stdout) if result.rc == 0 else {}


def wait_until_whole(hosts, timeout: float = 180) -> float:
    """Seconds until every hub's node runs in one cluster of three, with no partition."""
    started = time.time()
    while True:
        views = [cluster_status(hosts(hub)) for hub in HUBS]
        if all(sorted(view.get("running_nodes", [])) == NODES and not view.get("partitions") for view in views):
            return time.time() - started
        if time.time() - started > timeout:
            pytest.fail(f"the cluster is not whole after {timeout} s: {views}")
        time.sleep(2)


def hub_addresses(hosts) -> dict:
    """Each hub's address on the scenario's network, by name."""
    return {hosts(hub).check_output("hostname -I").split()[0]: hub for hub in HUBS}


def broker_hubs(hosts) -> dict:
    """The hubs each worker's AMQPS connections go to (every instance of it)."""
    addresses = hub_addresses(hosts)
    found = {}
    for worker in WORKERS:
        lines = hosts(worker).check_output("ss --no-header --tcp --numeric state established '( dport = :5671 )'")
        peers = {line.split()[-1].rsplit(":", 1)[0] for line in lines.splitlines() if line.strip()}
        found[worker] = sorted({addresses.get(peer, peer) for peer in peers})
    return found


def used_hub(hosts) -> str:
    """The hub most of the workers' connections go to (after a restart they all begin with the first)."""
    used = [hub for found in broker_hubs(hosts).values() for hub in found]
    assert used, "no worker is connected to a hub"
    return max(set(used), key=used.count)


def site_stats(hosts) -> dict:
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    return json.loads(hosts(CLIENT).check_output("python3 -c %s %s", fetch, f"{BASE}/stats"))


def send(calls: list[dict], timeout: int = 120, wait: bool = True) -> list[dict]:
    """Send fetches from the operator's machine (tests/send.py), each with its queue and countdown."""
    args = {"app_dir": APP_DIR, "calls": calls, "timeout": timeout, "wait": wait}
    # The probe outlives the waits it makes (a delayed batch waits past its countdown).
    return probe(CLIENT, "send", args, python=f"{VENV}/bin/python", directory=TESTS, timeout=timeout + 120)["calls"]


@pytest.fixture(scope="session")
def second_release(tmp_path_factory) -> Path:
    """The crawler's next version: one module dropped (parsers/legacy.py), one added (parsers/words.py), and a
    guard at import: it wants its secret from the environment, and refuses to run as root. test_apps.py deploys
    it; a later converge passes it too, as the operator would."""
    app = tmp_path_factory.mktemp("release") / "crawler"
    shutil.copytree(ROOT / "examples/crawler", app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "crawler/parsers/legacy.py").unlink()
    (app / "crawler/parsers/words.py").write_text(
        '"""Words of a page."""\n\n\ndef words(text):\n    return len(text.split())\n'
    )
    tasks = app / "crawler/tasks.py"
    tasks.write_text(
        tasks.read_text().replace("import html, legacy", "import html, words").replace("legacy.words(", "words.words(")
    )
    worker = app / "crawler/worker.py"
    guard = (
        "import os\n\n"
        "if os.geteuid() == 0:\n"
        "    raise RuntimeError('the crawler must not run as root')\n"
        "TOKEN = os.environ['CRAWLER_TOKEN']\n\n"
    )
    text = worker.read_text()
    worker.write_text(text.replace("from celery import Celery", guard + "from celery import Celery"))
    return app
