"""The worker part of the status report (roles/celery_worker/tasks/status.yml): systemd's answers and the
instances' queues as the fleet_status_celery_worker contract holds them."""

from role_code import load

status = load("roles/celery_worker/filter_plugins/celery_worker_status.py")

UNITS = ["celery-worker@w1.service", "celery-worker@w2.service"]
NODES = ["w1@worker1", "w2@worker1"]


def systemd(unit, load="loaded", active="active", sub="running", restarts="0"):
    """One looped result of ansible.builtin.systemd_service, as registered (systemd's values are text)."""
    return {
        "item": unit,
        "name": unit,
        "changed": False,
        "status": {
            "Id": unit,
            "LoadState": load,
            "ActiveState": active,
            "SubState": sub,
            "NRestarts": restarts,
            "MainPID": "1234",
        },
        "ansible_loop_var": "item",
    }


def test_each_unit_is_named_with_its_node_and_systemds_words_in_the_loops_order():
    results = [systemd(UNITS[1], active="failed", sub="failed", restarts="3"), systemd(UNITS[0])]
    assert status.celery_worker_unit_status(results, UNITS, NODES) == [
        {
            "name": "celery-worker@w2.service",
            "node": "w2@worker1",
            "load_state": "loaded",
            "active_state": "failed",
            "sub_state": "failed",
            "restarts": "3",
        },
        {
            "name": "celery-worker@w1.service",
            "node": "w1@worker1",
            "load_state": "loaded",
            "active_state": "active",
            "sub_state": "running",
            "restarts": "0",
        },
    ]


def test_beat_has_no_node_and_an_unknown_unit_keeps_systemds_not_found():
    results = [systemd("celery-beat.service"), systemd(UNITS[0], load="not-found", active="inactive", sub="dead")]
    beat, missing = status.celery_worker_unit_status(results, UNITS, NODES)
    assert beat["node"] == ""
    assert (missing["node"], missing["load_state"], missing["sub_state"]) == ("w1@worker1", "not-found", "dead")


def test_a_unit_systemd_could_not_be_asked_about_reports_the_modules_message():
    failed = {"item": UNITS[0], "failed": True, "msg": "Service is in unknown state", "ansible_loop_var": "item"}
    (unit,) = status.celery_worker_unit_status([failed], UNITS, NODES)
    assert unit == {
        "name": "celery-worker@w1.service",
        "node": "w1@worker1",
        "load_state": "unknown",
        "active_state": "unknown",
        "sub_state": "Service is in unknown state",
        "restarts": "0",
    }


def test_a_result_with_neither_status_nor_message_is_unknown():
    (unit,) = status.celery_worker_unit_status([{"item": UNITS[1]}], UNITS, NODES)
    assert (unit["load_state"], unit["active_state"], unit["sub_state"], unit["restarts"]) == (
        "unknown",
        "unknown",
        "unknown",
        "0",
    )


def test_instances_queues_each_once_in_first_seen_order():
    instances = [
        {"name": "crawl", "queues": ["crawl", "celery"]},
        {"name": "reports", "queues": ["reports", "crawl"], "pool": "threads"},
    ]
    assert status.celery_worker_consumed_queues(instances, "celery") == ["crawl", "celery", "reports"]


def test_an_instance_naming_no_queue_consumes_the_apps_default_queue():
    # celery_worker_instances: 2 becomes [{name: w1}, {name: w2}]; empty or null queues count as none.
    instances = [{"name": "w1"}, {"name": "w2", "queues": []}, {"name": "w3", "queues": None}]
    assert status.celery_worker_consumed_queues(instances, "tasks") == ["tasks"]
    mixed = [{"name": "w1", "queues": ["crawl"]}, {"name": "w2"}]
    assert status.celery_worker_consumed_queues(mixed, "celery") == ["crawl", "celery"]


def test_queue_names_differing_only_in_case_are_kept_once_as_first_written():
    # As Ansible's unique filter did before: it compares text case-blind.
    instances = [{"name": "w1", "queues": ["Reports"]}, {"name": "w2", "queues": ["reports", "crawl"]}]
    assert status.celery_worker_consumed_queues(instances) == ["Reports", "crawl"]
