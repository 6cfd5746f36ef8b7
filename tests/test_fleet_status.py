"""The status report's judgement (fleet_status): the fleet_status_* facts each role's `tasks_from: status`
sets on its hosts, as playbooks/status.yml collects them, turned into a table and a list of problems."""

import copy
import datetime
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fleet_status", ROOT / "roles/fleet/filter_plugins/fleet_status.py")
fleet_status = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_status)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


def asn1(days):
    """x509_certificate_info's not_after, days from NOW."""
    return (NOW + datetime.timedelta(days=days)).strftime("%Y%m%d%H%M%SZ")


def unit(name, node="", active="active", sub="running", restarts="0"):
    # As the status tasks write them: systemd's words, its numbers as text.
    return {
        "name": name,
        "node": node,
        "load_state": "loaded",
        "active_state": active,
        "sub_state": sub,
        "restarts": restarts,
    }


def worker(host, instances=("w1",), beat=False):
    nodes = [f"{name}@{host}" for name in instances]
    units = [unit(f"celery-worker@{name}.service", f"{name}@{host}") for name in instances]
    if beat:
        units.append(unit("celery-beat.service"))
    return {
        "units": units,
        "ping": {"nodes": nodes, "answered": nodes, "rc": 0, "error": ""},
        "celery_version": "5.6.3",
        "celery_version_error": "",
        "queues": ["celery"],
    }


def healthy():
    return {
        "hub1": {
            "rabbitmq": {
                "service": {**unit("rabbitmq-server.service"), "restarts": 0},
                "node": "rabbit@localhost",
                "version": "3.10.8",
                "error": "",
                "alarms": [],
                "disk": {"path": "/var/lib/rabbitmq", "size": 100 * 2**30, "free": 60 * 2**30},
                "vhost": "celery",
                "queues": [
                    {"name": "celery", "messages_ready": 0, "messages_unacknowledged": 0, "consumers": 2},
                    {
                        "name": "w1@worker1.celery.pidbox",
                        "messages_ready": 0,
                        "messages_unacknowledged": 0,
                        "consumers": 1,
                    },
                ],
                "queues_error": "",
            },
            "tls": {
                "mode": "private_ca",
                "renew_days": 30,
                "certificates": [
                    {
                        "name": "server certificate",
                        "host": "hub1",
                        "path": "/etc/celery-fleet/tls/cert.pem",
                        "not_after": asn1(300),
                        "error": "",
                    },
                    {
                        "name": "private CA",
                        "host": "controller",
                        "path": "/home/op/pki/ca.pem",
                        "not_after": asn1(3000),
                        "error": "",
                    },
                ],
                "renewal": None,
            },
        },
        "worker1": {"celery_worker": worker("worker1", beat=True)},
        "worker2": {"celery_worker": worker("worker2", instances=("w1", "w2"))},
    }


def run(facts, **options):
    return fleet_status.fleet_status(facts, now=NOW, **options)


def test_a_healthy_fleet_has_no_problems_and_every_unit_in_the_table():
    result = run(healthy())
    assert result["problems"] == []
    text = "\n".join(result["lines"])
    for host, name in [("worker1", "celery-worker@w1"), ("worker1", "celery-beat"), ("worker2", "celery-worker@w2")]:
        assert re.search(rf"^{host}\s+{name}\s+up \(active/running\)\s+0\s", text, re.M), text
    assert re.search(r"^hub1\s+rabbitmq-server\s+up \(active/running\)\s+3\.10\.8\s+alarms: none", text, re.M), text
    assert "0 problems." in result["lines"][-1]


def test_lines_have_no_trailing_blanks():
    # A text with trailing blanks is printed by the YAML callback as one quoted string.
    assert all(line == line.rstrip() for line in run(healthy())["lines"])


def test_a_stopped_unit_is_a_problem_naming_its_host_and_unit():
    facts = healthy()
    facts["worker2"]["celery_worker"]["units"][0].update(active_state="inactive", sub_state="dead")
    facts["worker2"]["celery_worker"]["ping"]["answered"] = ["w2@worker2"]
    assert run(facts)["problems"] == ["PROBLEM worker2: celery-worker@w1 is inactive (dead)"]


def test_a_failed_unit_says_how_often_it_restarted():
    facts = healthy()
    facts["worker1"]["celery_worker"]["units"][0].update(active_state="failed", sub_state="failed", restarts="5")
    facts["worker1"]["celery_worker"]["ping"]["answered"] = []
    assert run(facts)["problems"] == ["PROBLEM worker1: celery-worker@w1 is failed (failed), restarted 5 times"]


def test_a_unit_systemd_does_not_know_is_a_problem():
    facts = healthy()
    facts["worker1"]["celery_worker"]["units"][1].update(load_state="not-found", active_state="inactive")
    (problem,) = run(facts)["problems"]
    assert problem.startswith("PROBLEM worker1: celery-beat is not installed")


def test_a_running_worker_that_does_not_answer_a_ping_is_a_problem():
    facts = healthy()
    ping = facts["worker2"]["celery_worker"]["ping"]
    ping.update(answered=["w1@worker2"], rc=69, error="Error: No nodes replied within time constraint")
    result = run(facts)
    assert result["problems"] == [
        "PROBLEM worker2: w2@worker2 (celery-worker@w2) does not answer a ping through the broker: "
        "Error: No nodes replied within time constraint"
    ]
    assert re.search(
        r"^worker2\s+celery-worker@w2\s+up \(active/running\)\s+0\s+no answer\s+5\.6\.3$",
        "\n".join(result["lines"]),
        re.M,
    )


def test_a_ping_that_timed_out_says_so():
    facts = healthy()
    facts["worker1"]["celery_worker"]["ping"].update(answered=[], rc=124, error="")
    assert run(facts)["problems"] == [
        "PROBLEM worker1: w1@worker1 (celery-worker@w1) does not answer a ping through the broker: "
        "no answer before the timeout"
    ]


def test_a_virtualenv_without_celery_is_a_problem():
    facts = healthy()
    facts["worker1"]["celery_worker"].update(celery_version="", celery_version_error="ModuleNotFoundError: celery")
    assert run(facts)["problems"] == [
        "PROBLEM worker1: no Celery version could be read from the workers' virtualenv: ModuleNotFoundError: celery"
    ]


@pytest.mark.parametrize(("days", "expected"), [(29, "in 29 days (fewer than 30)"), (-3, "expired on")])
def test_a_server_certificate_near_its_end_is_a_problem_of_the_hub(days, expected):
    facts = healthy()
    facts["hub1"]["tls"]["certificates"][0]["not_after"] = asn1(days)
    (problem,) = run(facts)["problems"]
    assert problem.startswith("PROBLEM hub1: server certificate (/etc/celery-fleet/tls/cert.pem)")
    assert expected in problem


def test_the_threshold_is_the_tls_roles_renewal_window():
    facts = healthy()
    facts["hub1"]["tls"]["certificates"][0]["not_after"] = asn1(40)
    assert run(facts)["problems"] == []
    facts["hub1"]["tls"]["renew_days"] = 45
    assert len(run(facts)["problems"]) == 1


def test_an_expiring_private_ca_is_a_problem_of_the_controller():
    facts = healthy()
    facts["hub1"]["tls"]["certificates"][1]["not_after"] = asn1(10)
    (problem,) = run(facts)["problems"]
    assert problem.startswith("PROBLEM controller: private CA (/home/op/pki/ca.pem) expires on 2026-12-11, in 10 days")
    assert "by hand" in problem


def test_an_unreadable_certificate_is_a_problem():
    facts = healthy()
    facts["hub1"]["tls"]["certificates"][0].update(not_after="", error="file not found")
    assert run(facts)["problems"] == [
        "PROBLEM hub1: cannot read server certificate (/etc/celery-fleet/tls/cert.pem): file not found"
    ]


def test_a_failed_acme_renewal_is_a_problem():
    facts = healthy()
    facts["hub1"]["tls"].update(
        mode="acme",
        renewal={
            "name": "celery-fleet-acme-renew.service",
            "load_state": "loaded",
            "result": "exit-code",
            "exit_status": "1",
            "exit_timestamp": "Tue 2026-12-01 03:12:00 UTC",
        },
    )
    (problem,) = run(facts)["problems"]
    assert problem.startswith("PROBLEM hub1: the last certificate renewal failed (exit-code, exit status 1")
    assert "journalctl -u celery-fleet-acme-renew" in problem


def test_a_successful_or_pending_acme_renewal_is_no_problem():
    facts = healthy()
    renewal = {"name": "celery-fleet-acme-renew.service", "load_state": "loaded", "result": "success"}
    facts["hub1"]["tls"].update(mode="acme", renewal=renewal)
    assert run(facts)["problems"] == []
    renewal.update(exit_timestamp="Tue 2026-12-01 03:12:00 UTC", exit_status="0")
    assert run(facts)["problems"] == []


@pytest.mark.parametrize(("resource", "name"), [("memory", "memory"), ("disk", "free disk space")])
def test_a_broker_alarm_is_a_problem(resource, name):
    facts = healthy()
    facts["hub1"]["rabbitmq"]["alarms"] = [{"type": "resource_limit", "resource": resource, "node": "rabbit@localhost"}]
    result = run(facts)
    assert result["problems"] == [
        f"PROBLEM hub1: RabbitMQ {name} alarm on rabbit@localhost: publishers are blocked until it clears"
    ]
    assert f"alarms: {name}" in "\n".join(result["lines"])


def test_a_stopped_broker_is_one_problem_and_its_queues_are_not_listed():
    facts = healthy()
    broker = facts["hub1"]["rabbitmq"]
    broker["service"].update(active_state="inactive", sub_state="dead")
    broker.update(version="", error="Error: unable to perform an operation on node", queues=None, queues_error="Error")
    result = run(facts)
    assert result["problems"] == ["PROBLEM hub1: rabbitmq-server is inactive (dead)"]
    assert "(not listed: the broker did not answer)" in result["lines"]


def test_little_free_disk_on_the_hub_is_a_problem():
    facts = healthy()
    facts["hub1"]["rabbitmq"]["disk"]["free"] = 5 * 2**30
    (problem,) = run(facts)["problems"]
    assert problem.startswith("PROBLEM hub1: only 5% of the disk where RabbitMQ keeps its data is free")


def test_an_unreachable_host_is_a_problem_named_in_the_table():
    facts = healthy()
    facts["worker3"] = {}
    facts["worker4"] = {"celery_worker": None}
    result = run(facts, failed=["worker4"])
    assert result["problems"] == [
        "PROBLEM worker3: unreachable: nothing was read",
        "PROBLEM worker4: its status tasks failed (the error is above): nothing was read",
    ]
    text = "\n".join(result["lines"])
    assert re.search(r"^worker3\s+unreachable$", text, re.M)
    assert re.search(r"^worker4\s+failed$", text, re.M)


def test_the_queue_table_has_a_row_per_queue_in_aligned_columns():
    facts = healthy()
    facts["hub1"]["rabbitmq"]["queues"].append(
        {"name": "crawl", "messages_ready": 1234, "messages_unacknowledged": 8, "consumers": 3}
    )
    lines = run(facts)["lines"]
    start = lines.index("QUEUES of vhost celery on hub1")
    header, *rows = lines[start + 1 : start + 5]
    assert header.split() == ["QUEUE", "READY", "UNACKED", "CONSUMERS"]
    assert [row.split() for row in rows] == [
        ["celery", "0", "0", "2"],
        ["crawl", "1234", "8", "3"],
        ["w1@worker1.celery.pidbox", "0", "0", "1"],
    ]
    # Every column starts where its header does.
    for column in ("READY", "UNACKED", "CONSUMERS"):
        at = header.index(column)
        assert all(row[at - 2 : at] == "  " and row[at] != " " for row in rows)


def test_a_queue_the_workers_consume_with_waiting_tasks_and_no_consumer_is_a_problem():
    facts = healthy()
    queues = facts["hub1"]["rabbitmq"]["queues"]
    queues[0].update(messages_ready=12, consumers=0)
    # A reply queue whose client left, waiting for its expiry: not the workers'.
    queues.append({"name": "0f7c1a4e-reply", "messages_ready": 3, "messages_unacknowledged": 0, "consumers": 0})
    assert run(facts)["problems"] == [
        "PROBLEM hub1: queue celery has 12 messages ready and no consumer: no worker takes its tasks"
    ]


def test_tasks_in_the_dead_letter_queue_are_a_problem():
    facts = healthy()
    broker = facts["hub1"]["rabbitmq"]
    broker["dead_letter_queue"] = "celery.dead-letter"
    broker["queues"].append({"name": "celery.dead-letter", "messages_ready": 0, "messages_unacknowledged": 0})
    assert run(facts)["problems"] == []
    broker["queues"][-1]["messages_ready"] = 2
    assert run(facts)["problems"] == [
        "PROBLEM hub1: 2 tasks in the dead-letter queue celery.dead-letter: each lost its worker at every delivery "
        "(rabbitmq_delivery_limit); read them (rabbitmqctl list_queues, a consumer of your own) before sending "
        "them again"
    ]


def test_mongodb_down_is_a_problem():
    facts = healthy()
    facts["hub1"]["mongodb"] = {
        "service": unit("mongod.service", active="failed", sub="failed"),
        "version": "8.0.4",
        "port": 27017,
        "listening": False,
    }
    assert run(facts)["problems"] == ["PROBLEM hub1: mongod is failed (failed)"]
    facts["hub1"]["mongodb"]["service"].update(active_state="active", sub_state="running")
    assert run(facts)["problems"] == ["PROBLEM hub1: mongod runs but does not accept connections on port 27017"]
    facts["hub1"]["mongodb"]["listening"] = True
    result = run(facts)
    assert result["problems"] == []
    assert re.search(
        r"^hub1\s+mongod\s+up \(active/running\)\s+8\.0\.4\s+port 27017 open$", "\n".join(result["lines"]), re.M
    )


def test_the_facts_are_not_changed():
    facts = healthy()
    before = copy.deepcopy(facts)
    run(facts)
    assert facts == before


def test_a_running_broker_the_cli_cannot_reach_is_named_with_rabbitmqctls_error():
    facts = healthy()
    error = "Error: unable to perform an operation on node 'rabbit@localhost'.\n\nMost common reasons for this are:\n"
    facts["hub1"]["rabbitmq"].update(version="", error=error, alarms=[], queues=None, queues_error=error)
    assert run(facts)["problems"] == [
        "PROBLEM hub1: rabbitmqctl status gets no answer from the broker: "
        "Error: unable to perform an operation on node 'rabbit@localhost'.",
        "PROBLEM hub1: cannot list the queues of vhost celery: "
        "Error: unable to perform an operation on node 'rabbit@localhost'.",
    ]


def cluster_of_three(running=("rabbit@hub1", "rabbit@hub2", "rabbit@hub3"), partitions=None):
    """Three hubs of one cluster, each node seeing `running` (its own view), each listing the same queues."""
    facts = healthy()
    hub = facts.pop("hub1")
    for name in ("hub1", "hub2", "hub3"):
        broker = copy.deepcopy(hub["rabbitmq"])
        broker.update(
            node=f"rabbit@{name}",
            version="4.0.5",
            cluster={
                "nodes": ["rabbit@hub1", "rabbit@hub2", "rabbit@hub3"],
                "running": list(running),
                "partitions": partitions or {},
                "error": "",
            },
        )
        facts[name] = {"rabbitmq": broker}
    return facts


def test_a_whole_cluster_has_no_problems_and_its_queues_are_listed_once():
    result = run(cluster_of_three())
    assert result["problems"] == []
    text = "\n".join(result["lines"])
    for name in ("hub1", "hub2", "hub3"):
        assert re.search(rf"^{name}\s+rabbitmq-server\s+up .*cluster: 3 of 3 nodes running", text, re.M), text
    assert [line for line in result["lines"] if line.startswith("QUEUES")] == ["QUEUES of vhost celery on hub1"]


def test_a_stopped_node_is_named_by_the_others_and_the_queues_come_from_one_that_answers():
    facts = cluster_of_three(running=("rabbit@hub2", "rabbit@hub3"))
    broker = facts["hub1"]["rabbitmq"]
    broker["service"].update(active_state="inactive", sub_state="dead")
    broker.update(error="Error: unable to perform an operation on node 'rabbit@hub1'", queues=None)
    problems = run(facts)["problems"]
    assert problems[0] == "PROBLEM hub1: rabbitmq-server is inactive (dead)"
    for name in ("hub2", "hub3"):
        assert f"PROBLEM {name}: rabbit@{name} sees 2 of 3 cluster nodes running; not rabbit@hub1" in "\n".join(
            problems
        )
    assert len(problems) == 3, problems
    lines = run(facts)["lines"]
    assert [line for line in lines if line.startswith("QUEUES")] == ["QUEUES of vhost celery on hub2"]


def test_a_partition_is_a_problem_naming_who_lost_whom():
    facts = cluster_of_three(partitions={"rabbit@hub1": ["rabbit@hub2", "rabbit@hub3"]})
    problems = run(facts)["problems"]
    assert len(problems) == 3
    assert problems[0] == (
        "PROBLEM hub1: rabbit@hub1 reports a network partition (rabbit@hub1 lost rabbit@hub2, rabbit@hub3): "
        "the side without a majority pauses until it heals"
    )


def test_a_cluster_status_without_an_answer_is_a_problem():
    facts = cluster_of_three()
    error = "Error: operation cluster_status on node rabbit@hub3 timed out. Timeout value used: 30000"
    facts["hub3"]["rabbitmq"]["cluster"].update(running=[], error=f"\n{error}\n")
    expected = f"PROBLEM hub3: rabbitmqctl cluster_status gets no answer from rabbit@hub3: {error}"
    assert run(facts)["problems"] == [expected]


def test_a_single_hub_has_no_cluster_detail():
    assert "cluster:" not in "\n".join(run(healthy())["lines"])
