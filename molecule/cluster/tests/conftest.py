"""What the cluster checks share: the hubs, their nodes as RabbitMQ sees them, and the operator's machine."""

import json
import subprocess
import time
from pathlib import Path

import pytest
from checks import run_playbook

HUBS = ["cluster-hub1", "cluster-hub2", "cluster-hub3"]
NODES = [f"rabbit@{hub}" for hub in HUBS]
WORKERS = ["cluster-worker1", "cluster-worker2"]
BATCH = Path(__file__).resolve().parents[2] / "_platform" / "task_batch.py"


@pytest.fixture(scope="session")
def client_app(inventory, hosts):
    """The operator's settings rendered on the client by controller.yml, and the batch script there."""
    rendered = run_playbook(
        inventory,
        "controller.yml",
        "-e",
        "controller_hosts=cluster-client",
        "-e",
        "controller_output_dir=/opt/client/app",
    )
    assert rendered.returncode == 0, rendered.summary() + rendered.output
    subprocess.run(["docker", "cp", str(BATCH), "cluster-client:/opt/client/task_batch.py"], check=True)
    return hosts("cluster-client")


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
    """The hubs each worker's AMQPS connections go to."""
    addresses = hub_addresses(hosts)
    found = {}
    for worker in WORKERS:
        lines = hosts(worker).check_output("ss --no-header --tcp --numeric state established '( dport = :5671 )'")
        peers = {line.split()[-1].rsplit(":", 1)[0] for line in lines.splitlines() if line.strip()}
        found[worker] = sorted({addresses.get(peer, peer) for peer in peers})
    return found
