"""Three hubs as one RabbitMQ cluster, converged by site.yml (molecule has checked that a second run changes
nothing): the cluster is whole, its nodes talk TLS to each other only, and with 1,000 tasks in flight no task
is lost when the node the workers use stops, when a hub is cut off from the others, or when a hub's disk is
lost; delayed tasks run near their time; a task that kills its worker each time ends in the dead-letter queue.

Tasks are counted by molecule/_platform/task_batch.py on the operator's machine (its docstring says how). The
tests run in this file's order: the delayed batch is sent first and read after two faults.
"""

import json
import subprocess
import sys
import time

import pytest
from batch import assert_none_lost, read_report, run_batch, start_batch, wait_for
from checks import CONNECTED, NO_ANSWER, ROOT, connect, run_playbook
from conftest import HUBS, NODES, WORKERS, broker_hubs, cluster_status, hub_addresses, wait_until_whole

COUNTDOWN = 120
DEAD_LETTERS = "celery.dead-letter"
NODE_TLS = "/etc/celery-fleet/tls"


def test_the_three_hubs_run_as_one_cluster(hosts):
    for hub in HUBS:
        view = cluster_status(hosts(hub))
        assert sorted(view["running_nodes"]) == NODES, (hub, view)
        assert not view["partitions"], (hub, view)


def test_the_nodes_talk_tls_with_their_own_certificates_and_only_to_each_other(hosts):
    hub2 = hosts("cluster-hub2")
    handshake = "openssl s_client -connect cluster-hub1:25672 -verify_return_error -CAfile {tls}/node-ca.pem {cert}"
    # Without a node certificate the distribution port refuses the handshake...
    refused = hub2.run(handshake.format(tls=NODE_TLS, cert="") + " </dev/null")
    assert refused.rc != 0, refused.stdout
    # ...with one, the peer's certificate is checked against its name and the private CA.
    cert = f"-cert {NODE_TLS}/node.pem -key {NODE_TLS}/node.key -verify_hostname cluster-hub1"
    accepted = hub2.run(handshake.format(tls=NODE_TLS, cert=cert) + " -brief </dev/null")
    assert accepted.rc == 0 and "Verification: OK" in accepted.stderr, accepted.stderr
    for port in (4369, 25672):
        assert connect(hub2, "cluster-hub1", port) == CONNECTED, port
        for outside in (*WORKERS, "cluster-client"):
            assert connect(hosts(outside), "cluster-hub1", port) == NO_ANSWER, (outside, port)
    assert connect(hosts("cluster-client"), "cluster-hub3", 5671) == CONNECTED


def test_the_task_queue_has_a_replica_on_every_hub(hosts):
    members = hosts("cluster-hub1").check_output(
        "rabbitmq-queues --quiet quorum_status --vhost celery celery --formatter json"
    )
    assert sorted(row["Node Name"] for row in json.loads(members)) == NODES, members


def test_the_operators_settings_list_every_node(client_app):
    urls = client_app.check_output(
        "cd /opt/client/app && /opt/client/venv/bin/python -c 'import celeryconfig; print(celeryconfig.broker_url)'"
    )
    assert [url.split("@")[1].split(":")[0] for url in urls.split(";")] == HUBS, urls


@pytest.fixture(scope="module")
def delayed_batch(client_app) -> dict:
    """200 tasks with a countdown, then 50 without, on the same queue; read after two faults."""
    started = time.time()
    prefix = start_batch(client_app, "delayed", 250, 0, 50, COUNTDOWN + 240, COUNTDOWN, 200)
    return {"prefix": prefix, "started": started}


def test_tasks_sent_after_delayed_ones_run_at_once(client_app, delayed_batch):
    wait_for(client_app, "delayed", f"{delayed_batch['prefix']}.midway", 60)
    midway = json.loads(client_app.file(f"{delayed_batch['prefix']}.midway").content_string)
    waited = midway["at"] - delayed_batch["started"]
    assert waited < 30, midway
    print(f"report: the 50 tasks sent after 200 delayed ones were all done {waited:.1f} s after the first was sent")


def test_no_task_is_lost_when_the_node_the_workers_use_stops(hosts, client_app):
    used = sorted({hub for found in broker_hubs(hosts).values() for hub in found})
    assert len(used) == 1, used
    stopped = hosts(used[0])

    def disrupt():
        stopped.check_output("systemctl stop rabbitmq-server")

    started = time.time()
    try:
        report, _ = run_batch(client_app, "stop", 0.05, disrupt)
        assert_none_lost(report)
        # They went on through the other nodes, each checked against its own name (each hub's certificate
        # carries its name alone).
        now = broker_hubs(hosts)
        assert all(found and used[0] not in found for found in now.values()), now
    finally:
        stopped.check_output("systemctl start rabbitmq-server")
    healed = wait_until_whole(hosts)
    print(
        f"report: {used[0]} stopped under load: {report['completed']} of {report['sent']} tasks, none lost, "
        f"{report['ran_twice']} ran twice ({report['overlapping']} at the same time) in "
        f"{time.time() - started:.0f} s; the workers moved to {now}; the node back in the cluster "
        f"{healed:.0f} s after its start"
    )


def test_no_task_is_lost_when_a_hub_is_cut_off_from_the_others(hosts, client_app):
    used = sorted({hub for found in broker_hubs(hosts).values() for hub in found})
    cut = hosts(used[0])
    others = " , ".join(address for address, hub in hub_addresses(hosts).items() if hub != used[0])
    block = (
        "nft add table inet cut-off && nft add chain inet cut-off input '{ type filter hook input priority -10 ; }' "
        "&& nft add chain inet cut-off output '{ type filter hook output priority -10 ; }' "
        f"&& nft add rule inet cut-off input ip saddr '{{ {others} }}' drop "
        f"&& nft add rule inet cut-off output ip daddr '{{ {others} }}' drop"
    )

    def disrupt():
        cut.check_output(block)
        # Longer than net_ticktime (60 s): the others see it gone, and it sees itself in the minority.
        time.sleep(90)
        cut.check_output("nft delete table inet cut-off")

    try:
        report, restored_at = run_batch(client_app, "partition", 0.05, disrupt)
    finally:
        cut.run("nft delete table inet cut-off")
    assert_none_lost(report)
    healed = wait_until_whole(hosts)
    print(
        f"report: {used[0]} cut off from the other hubs for 90 s under load: {report['completed']} of "
        f"{report['sent']} tasks, none lost, {report['ran_twice']} ran twice ({report['overlapping']} at the same "
        f"time); the cluster whole {time.time() - restored_at:.0f} s after the link came back "
        f"(checked {healed:.0f} s after the batch)"
    )


def test_delayed_tasks_run_once_each_near_their_time(client_app, delayed_batch):
    report = read_report(client_app, "delayed", COUNTDOWN + 240)
    assert report["error"] is None, report
    assert (report["completed"], report["missing"], report["ran_twice"]) == (250, [], 0), report
    early, late = report["delayed_late"]
    assert early > -1 and late < 60, report
    print(
        f"report: 200 tasks with a {COUNTDOWN} s countdown ran once each, {early:.1f} to {late:.1f} s after their "
        f"time, through two faults of the cluster; the 50 others ended within {report['immediate_seconds']} s"
    )


def queue_depth(hub, name: str) -> int:
    rows = json.loads(hub.check_output("rabbitmqctl --quiet list_queues -p celery name messages --formatter json"))
    return next((row["messages"] for row in rows if row["name"] == name), -1)


def test_a_task_that_kills_its_worker_each_time_ends_in_the_dead_letter_queue(inventory, hosts, client_app):
    hub = hosts("cluster-hub2")
    before = queue_depth(hub, DEAD_LETTERS)
    assert before == 0, before
    client_app.check_output(
        "cd /opt/client/app && /opt/client/venv/bin/python -c "
        "'from proj.tasks import crash_worker; print(crash_worker.delay().id)'"
    )
    deadline = time.time() + 180
    while queue_depth(hub, DEAD_LETTERS) < 1:
        assert time.time() < deadline, "the task never reached the dead-letter queue"
        time.sleep(2)
    took = 180 - (deadline - time.time())
    restarts = {name: hosts(name).check_output("systemctl show -P NRestarts celery-worker@w1") for name in WORKERS}
    # The workers came back each time, and run.
    for worker in WORKERS:
        assert hosts(worker).service("celery-worker@w1").is_running, worker
    # status.yml names it as a problem (and exits non-zero, as it does for any problem).
    status = run_playbook(inventory, "playbooks/status.yml")
    assert status.returncode != 0, status.summary()
    assert f"tasks in the dead-letter queue {DEAD_LETTERS}" in json.dumps(status.results), status.summary()
    print(f"report: the crashing task was in {DEAD_LETTERS} after {took:.0f} s; worker restarts {restarts}")


def test_a_hub_whose_disk_is_lost_rejoins_and_gets_its_replicas_back(inventory, hosts, client_app, tmp_path):
    lost = "cluster-hub1"

    def disrupt():
        subprocess.run(["docker", "rm", "--force", lost], check=True, capture_output=True)

    report, _ = run_batch(client_app, "disk", 0.05, disrupt)
    assert_none_lost(report)
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
                    "platform_network": "celery-fleet-cluster",
                    "platform_label": "molecule-cluster",
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
    # As molecule converges: the client's facts first, or the hubs would shut the operator out.
    converged = run_playbook(inventory, "molecule/cluster/converge.yml")
    assert converged.returncode == 0, converged.summary() + converged.output
    took = time.time() - started
    wait_until_whole(hosts)
    members = hosts("cluster-hub2").check_output(
        "rabbitmq-queues --quiet quorum_status --vhost celery celery --formatter json"
    )
    assert sorted(row["Node Name"] for row in json.loads(members)) == NODES, members
    print(
        f"report: {lost} removed under load: {report['completed']} of {report['sent']} tasks, none lost; "
        f"made again, site.yml took {took:.0f} s and it is back in the cluster with a replica of the task queue"
    )
