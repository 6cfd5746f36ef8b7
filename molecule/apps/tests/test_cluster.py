"""The three hubs as one RabbitMQ cluster, after the crawl and the deploys of test_apps.py: the cluster is whole,
its nodes talk TLS to each other only, and with 1,000 fetches in flight no task is lost when the node the workers
use stops, when a hub is cut off from the others, or when a hub's disk is lost; a page that kills its instance
each time ends in the dead-letter queue; a hub lost for good is replaced by a new host (apps-hub4) with
playbooks/replace-hub.yml while pages are fetched.

Each batch is 1,000 slow pages (1 s each) spread over the crawl, green and default queues, sent at once from the
operator's machine; the site (apps-pages) records every request, when it began and ended and whether it was sent
whole. A task is done when its page was sent whole; a task run again after its first run was stopped asks again,
and the two requests must never overlap. The count does not depend on the result backend (rpc: the results of a
stopped node's clients are gone with it). The tests run in this file's order, the lost disk and the
replacement last.
"""

import itertools
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from checks import CONNECTED, NO_ANSWER, ROOT, connect, run_playbook
from conftest import (
    BASE,
    BEAT_ON_WORKER2,
    CLIENT,
    HUBS,
    NODES,
    WORKERS,
    broker_hubs,
    cluster_status,
    hub_addresses,
    send,
    site_stats,
    used_hub,
    wait_until_whole,
)

DEAD_LETTERS = "celery.dead-letter"
NODE_TLS = "/etc/celery-fleet/tls"
QUEUES = ["crawl", "green", "celery"]


def test_the_three_hubs_run_as_one_cluster(hosts):
    for hub in HUBS:
        view = cluster_status(hosts(hub))
        assert sorted(view["running_nodes"]) == NODES, (hub, view)
        assert not view["partitions"], (hub, view)


def test_the_nodes_talk_tls_with_their_own_certificates_and_only_to_each_other(hosts):
    hub2 = hosts("apps-hub2")
    handshake = "openssl s_client -connect apps-hub1:25672 -verify_return_error -CAfile {tls}/node-ca.pem {cert}"
    # Without a node certificate the distribution port refuses the handshake (with TLS 1.3 the client has
    # finished its side first: wait for the server's alert)...
    refused = hub2.run("timeout 10 " + handshake.format(tls=NODE_TLS, cert="") + " -ign_eof </dev/null")
    assert refused.rc != 0 and "alert" in refused.stderr.lower(), refused.stderr
    # ...with one, the peer's certificate is checked against its name and the private CA.
    cert = f"-cert {NODE_TLS}/node.pem -key {NODE_TLS}/node.key -verify_hostname apps-hub1"
    accepted = hub2.run(handshake.format(tls=NODE_TLS, cert=cert) + " -brief </dev/null")
    assert accepted.rc == 0 and "Verification: OK" in accepted.stderr, accepted.stderr
    for port in (4369, 25672):
        assert connect(hub2, "apps-hub1", port) == CONNECTED, port
        for outside in (*WORKERS, CLIENT):
            assert connect(hosts(outside), "apps-hub1", port) == NO_ANSWER, (outside, port)
    assert connect(hosts(CLIENT), "apps-hub3", 5671) == CONNECTED


def quorum_members(hub, queue: str) -> list[str]:
    members = hub.check_output(f"rabbitmq-queues --quiet quorum_status --vhost celery {queue} --formatter json")
    return sorted(row["Node Name"] for row in json.loads(members))


def test_every_task_queue_has_a_replica_on_every_hub(hosts):
    for queue in QUEUES:
        assert quorum_members(hosts("apps-hub1"), queue) == NODES, queue


def test_the_operators_settings_list_every_node(hosts):
    urls = hosts(CLIENT).check_output(
        "cd /opt/client/crawler && /opt/client/venv/bin/python -c 'import celeryconfig; print(celeryconfig.broker_url)'"
    )
    assert [url.split("@")[1].split(":")[0] for url in urls.split(";")] == HUBS, urls


def runs(requests: list[dict]) -> tuple[int, int]:
    """Whole runs of one page, and how many requests began while an earlier one was going (the site notices a
    client gone at its next write: 0.2 s)."""
    requests = sorted(requests, key=lambda request: request["start"])
    overlapping = sum(
        1 for before, after in itertools.pairwise(requests) if after["start"] < (before["end"] or 1e12) - 0.5
    )
    return sum(request["whole"] for request in requests), overlapping


def crawl_under(hosts, first: int, disrupt) -> dict:
    """Send 1,000 slow pages (first, first + 1, ...), disrupt the fleet once 100 are whole, and count."""
    paths = [f"/slow/{first + n}" for n in range(1000)]
    calls = [{"url": f"{BASE}{path}?seconds=1", "queue": queue} for path, queue in zip(paths, itertools.cycle(QUEUES))]
    started = time.time()
    send(calls, wait=False)

    def count() -> dict:
        found = site_stats(hosts)["requests"]
        counted = {path: runs(found.get(path, [])) for path in paths}
        return {
            "completed": sum(1 for whole, _ in counted.values() if whole),
            "missing": [path for path, (whole, _) in counted.items() if not whole][:10],
            "ran_twice": sum(1 for whole, _ in counted.values() if whole > 1),
            "overlapping": sum(overlap for _, overlap in counted.values()),
            "last_end": max((request["end"] or 0 for path in paths for request in found.get(path, [])), default=0),
        }

    while count()["completed"] < 100:
        assert time.time() < started + 120, "100 pages were not fetched within 120 s"
        time.sleep(1)
    disrupt()
    disrupted = time.time()
    while (report := count())["completed"] < 1000 and time.time() < disrupted + 300:
        time.sleep(3)
    report |= {"disrupted": disrupted, "seconds": report["last_end"] - started}
    # Every page fetched whole, each run again only after its first run was stopped.
    assert (report["completed"], report["missing"], report["overlapping"]) == (1000, [], 0), report
    return report


def test_no_task_is_lost_when_the_node_the_workers_use_stops(inventory, hosts):
    node = used_hub(hosts)
    stopped = hosts(node)
    try:
        report = crawl_under(hosts, 10000, lambda: stopped.check_output("systemctl stop rabbitmq-server"))
        # They went on through the other nodes, each checked against its own name (each hub's certificate
        # carries its name alone).
        now = broker_hubs(hosts)
        assert all(found and node not in found for found in now.values()), now
        # status.yml names the stopped node, as the two others see it.
        status = run_playbook(inventory, "playbooks/status.yml", *BEAT_ON_WORKER2)
        assert status.returncode != 0, status.summary()
        shown = json.dumps(status.results)
        for other in HUBS:
            seen = f"PROBLEM {other}: rabbit@{other} sees 2 of 3 cluster nodes running; not rabbit@{node}:"
            assert (seen in shown) == (other != node), (other, status.summary())
    finally:
        stopped.check_output("systemctl start rabbitmq-server")
    back = time.time()
    healed = wait_until_whole(hosts)
    print(
        f"report: {node} stopped under 1000 fetches: {report['completed']} of 1000 done, none lost, "
        f"{report['ran_twice']} ran twice (0 at the same time) in {report['seconds']:.0f} s; the workers moved to "
        f"{now}; the node back in the cluster {healed:.0f} s after its start ({time.time() - back:.0f} s)"
    )


def test_no_task_is_lost_when_a_hub_is_cut_off_from_the_others(hosts):
    node = used_hub(hosts)
    cut = hosts(node)
    others = " , ".join(address for address, hub in hub_addresses(hosts).items() if hub != node)
    block = (
        "nft add table inet cut-off && nft add chain inet cut-off input '{ type filter hook input priority -10 ; }' "
        "&& nft add chain inet cut-off output '{ type filter hook output priority -10 ; }' "
        f"&& nft add rule inet cut-off input ip saddr '{{ {others} }}' drop "
        f"&& nft add rule inet cut-off output ip daddr '{{ {others} }}' drop"
    )
    restored = {}

    def disrupt():
        cut.check_output(block)
        # Longer than net_ticktime (60 s): the others see it gone, and it sees itself in the minority.
        time.sleep(90)
        cut.check_output("nft delete table inet cut-off")
        restored["at"] = time.time()

    try:
        report = crawl_under(hosts, 12000, disrupt)
    finally:
        cut.run("nft delete table inet cut-off")
    healed = wait_until_whole(hosts)
    print(
        f"report: {node} cut off from the other hubs for 90 s under 1000 fetches: {report['completed']} of 1000 "
        f"done, none lost, {report['ran_twice']} ran twice (0 at the same time); the cluster whole "
        f"{time.time() - restored['at']:.0f} s after the link came back (checked {healed:.0f} s after the batch)"
    )


def queue_depth(hub, name: str) -> int:
    rows = json.loads(hub.check_output("rabbitmqctl --quiet list_queues -p celery name messages --formatter json"))
    return next((row["messages"] for row in rows if row["name"] == name), -1)


def test_a_page_that_kills_its_instance_each_time_ends_in_the_dead_letter_queue(inventory, hosts):
    hub, solo = hosts("apps-hub2"), hosts("apps-worker2")
    # Nothing there yet: the scheduler's heartbeats that expired during the faults above (sent with
    # `expires`) were dropped, not dead-lettered.
    assert queue_depth(hub, DEAD_LETTERS) == 0
    restarts = int(solo.check_output("systemctl show -P NRestarts celery-worker@solo"))
    # The solo instance (MemoryMax=256M) runs its task in its main process: the kernel kills the instance, the
    # broker hands the task out again when its connection goes, and drops it to the dead letters at the limit.
    send([{"url": f"{BASE}/big/2?mb=1024", "queue": "solo"}], wait=False)
    started = time.time()
    while queue_depth(hub, DEAD_LETTERS) < 1:
        assert time.time() < started + 180, "the task never reached the dead-letter queue"
        time.sleep(2)
    took = time.time() - started
    # systemd brings it back after each kill: once it runs again, its restarts count them all.
    deadline = time.time() + 30
    while not solo.service("celery-worker@solo").is_running:
        assert time.time() < deadline, "the solo instance did not come back"
        time.sleep(1)
    killed = int(solo.check_output("systemctl show -P NRestarts celery-worker@solo")) - restarts
    asked = site_stats(hosts)["requests"]["/big/2"]
    # Each delivery (rabbitmq_delivery_limit, 3 in molecule.yml, then the dead letters) asked for the page and
    # killed the instance; none got it whole.
    assert killed >= 3 and len(asked) == killed and not any(request["whole"] for request in asked), (killed, asked)
    # status.yml names it as a problem (and exits non-zero, as it does for any problem).
    status = run_playbook(inventory, "playbooks/status.yml", *BEAT_ON_WORKER2)
    assert status.returncode != 0, status.summary()
    shown = json.dumps(status.results)
    # Said by one node (the three list the same queues), and each sees the whole cluster.
    named = [other for other in HUBS if f"PROBLEM {other}: 1 tasks in the dead-letter queue {DEAD_LETTERS}" in shown]
    assert len(named) == 1, status.summary()
    for other in HUBS:
        row = rf"{other} +rabbitmq-server +up \(active/running\) +[0-9.]+ +alarms: none; cluster: 3 of 3 nodes running"
        assert re.search(row, shown), status.summary()
    print(f"report: the page that kills its instance was in {DEAD_LETTERS} after {took:.0f} s, {killed} kills")


def test_a_hub_whose_disk_is_lost_rejoins_and_gets_its_replicas_back(inventory, hosts, second_release):
    lost = "apps-hub1"
    report = crawl_under(
        hosts, 14000, lambda: subprocess.run(["docker", "rm", "--force", lost], check=True, capture_output=True)
    )
    remade = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            json.dumps(
                {
                    "ansible_python_interpreter": sys.executable,
                    "platform_hosts": [{"name": lost, "image": "celery-fleet/debian:13"}],
                    "platform_network": "celery-fleet-apps",
                    "platform_label": "molecule-apps",
                    "platform_default_image": "celery-fleet/debian:13",
                }
            ),
            "molecule/_platform/remake_host.yml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert remade.returncode == 0, remade.stdout[-3000:]
    started = time.time()
    # As molecule converges (the client's facts first, or the hubs would shut the operator out), with the
    # release and the scheduler test_apps.py left: the workers have nothing to change.
    release = f"celery_worker_app_source={second_release}"
    converged = run_playbook(inventory, "molecule/apps/converge.yml", "-e", release, *BEAT_ON_WORKER2)
    assert converged.returncode == 0, converged.summary() + converged.output
    took = time.time() - started
    wait_until_whole(hosts)
    for queue in QUEUES:
        assert quorum_members(hosts("apps-hub2"), queue) == NODES, queue
    print(
        f"report: {lost} removed under 1000 fetches: {report['completed']} of 1000 done, none lost, "
        f"{report['ran_twice']} ran twice; made again, site.yml took {took:.0f} s and it is back in the cluster "
        "with a replica of every task queue"
    )


def test_a_hub_lost_for_good_is_replaced_by_a_new_host_while_pages_are_fetched(
    inventory, hosts, second_release, tmp_path
):
    gone, new = "apps-hub3", "apps-hub4"
    # The operator's inventory after the loss: the new host in the group hub in place of the old one.
    replaced = tmp_path / "inventory"
    shutil.copytree(Path(inventory).parent, replaced)
    listed = yaml.safe_load((replaced / "ansible_inventory.yml").read_text())
    for group in ("all", "hub"):
        listed[group]["hosts"].pop(gone)
        listed[group]["hosts"][new] = {}
    (replaced / "ansible_inventory.yml").write_text(yaml.safe_dump(listed))
    operator = hosts(CLIENT).check_output("hostname -I").split()[0]
    took = {}

    def replace():
        subprocess.run(["docker", "rm", "--force", gone], check=True, capture_output=True)
        started = time.time()
        run = run_playbook(
            str(replaced / "ansible_inventory.yml"),
            "playbooks/replace-hub.yml",
            "-e",
            f"hub_gone={gone}",
            "-e",
            f"celery_worker_app_source={second_release}",
            *BEAT_ON_WORKER2,
            # What the scenario's converge learns from the client's facts.
            "-e",
            json.dumps({"fleet_operator_sources": [operator]}),
        )
        assert run.returncode == 0, run.summary() + run.output
        took["s"] = time.time() - started

    report = crawl_under(hosts, 16000, replace)
    # The operator's machine: controller.yml again, as replace-hub.yml says.
    rendered = run_playbook(str(replaced / "ansible_inventory.yml"), "controller.yml", "-e", "controller_hosts=clients")
    assert rendered.returncode == 0, rendered.summary() + rendered.output
    nodes = sorted(["rabbit@apps-hub1", "rabbit@apps-hub2", f"rabbit@{new}"])
    for hub in ("apps-hub1", "apps-hub2", new):
        view = cluster_status(hosts(hub))
        assert (sorted(view["running_nodes"]), sorted(view["disk_nodes"])) == (nodes, nodes), (hub, view)
    for queue in QUEUES:
        assert quorum_members(hosts(new), queue) == nodes, queue
    # The workers and the operator's settings list the new node, not the old one.
    for host, path in (("apps-worker1", "/etc/celery-fleet/worker"), (CLIENT, "/opt/client/crawler")):
        urls = hosts(host).check_output(f"grep -h '^_BROKER_HOSTS' {path}/celeryconfig.py")
        assert new in urls and gone not in urls, (host, urls)
    print(
        f"report: {gone} lost for good and replaced by {new} (replace-hub.yml, {took['s']:.0f} s) under 1000 "
        f"fetches: {report['completed']} of 1000 done, none lost, {report['ran_twice']} ran twice; the new node "
        "holds a replica of every task queue"
    )
