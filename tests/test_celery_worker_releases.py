"""How an instance's unit starts Celery (the celery_worker role's filter), and how a run finds the instances
that run another release than the links name (its module celery_worker_running_releases)."""

import importlib.util
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


instances = load("celery_worker_instances", "roles/celery_worker/filter_plugins/celery_worker_instances.py")
releases = load("celery_worker_running_releases", "roles/celery_worker/library/celery_worker_running_releases.py")
environment = instances.celery_worker_instance_environment


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ({"name": "w1"}, {"CELERY_WORKER_ARGS": ""}),
        ({"name": "w1", "pool": "prefork", "concurrency": 4}, {"CELERY_WORKER_ARGS": "--pool prefork --concurrency 4"}),
        (
            {"name": "crawl", "queues": ["crawl", "retry"], "pool": "threads", "concurrency": 16},
            {
                "CELERY_WORKER_ARGS": "--queues crawl,retry --pool custom --concurrency 16",
                "CELERY_CUSTOM_WORKER_POOL": "celery_fleet_pool:ThreadPool",
            },
        ),
        (
            {"name": "one", "pool": "solo"},
            {
                "CELERY_WORKER_ARGS": "--pool custom --concurrency 1",
                "CELERY_CUSTOM_WORKER_POOL": "celery_fleet_pool:ThreadPool",
            },
        ),
        (
            {"name": "g", "pool": "gevent", "concurrency": 100},
            {"CELERY_WORKER_ARGS": "--pool gevent --concurrency 100"},
        ),
        (
            {"name": "w1", "max_tasks_per_child": "100", "max_memory_per_child": 200000},
            {"CELERY_WORKER_ARGS": "--max-tasks-per-child 100 --max-memory-per-child 200000"},
        ),
    ],
    ids=["defaults", "prefork", "threads", "solo", "gevent", "child limits"],
)
def test_each_pool_starts_with_what_holds_it_to_the_limits(instance, expected):
    assert environment(instance) == expected


def test_the_role_default_concurrency_applies_unless_the_instance_says_otherwise():
    assert environment({"name": "w1"}, 3) == {"CELERY_WORKER_ARGS": "--concurrency 3"}
    assert environment({"name": "w1", "concurrency": 0}, 3) == {"CELERY_WORKER_ARGS": ""}


def test_a_unit_is_stale_when_it_started_before_the_links_last_moved():
    started = {"a": 100.0, "b": 250.5, "c": 199.999}
    assert releases.stale_units(started, 200.0) == ["a", "c"]
    assert releases.stale_units({}, 200.0) == []


def test_systemds_timestamps_are_read_to_the_microsecond():
    assert releases.parse_timestamp("Sun 2026-12-06 05:50:01.123456 UTC") == pytest.approx(1796536201.123456)
    assert releases.parse_timestamp("") is None
    assert releases.parse_timestamp("n/a") is None


def test_moving_a_link_changes_its_own_time_and_keeping_it_does_not(tmp_path):
    (tmp_path / "app-1").mkdir()
    (tmp_path / "app-2").mkdir()
    link = tmp_path / "app"
    assert releases.link_changed(str(link)) == 0.0
    link.symlink_to("app-1")
    first = releases.link_changed(str(link))
    time.sleep(0.05)
    # What the file module does to move a link: a new link renamed over the old one.
    (tmp_path / "app.new").symlink_to("app-2")
    os.replace(tmp_path / "app.new", link)
    moved = releases.link_changed(str(link))
    assert moved > first
    started_between = first + (moved - first) / 2
    assert releases.stale_units({"u": started_between}, moved) == ["u"]
    assert releases.stale_units({"u": moved + 0.001}, moved) == []


@pytest.mark.parametrize(
    ("celery", "broker", "refused"),
    [
        ("5.4.0", "4.0.5", True),
        ("5.3.6", "4.3.0", True),
        ("5.5.0", "4.0.5", False),
        ("5.6.3", "4.0.5", False),
        ("5.4.0", "3.10.8", False),
        ("5.6.3", "3.13.7", False),
    ],
)
def test_a_celery_before_55_is_refused_by_a_rabbitmq_4_hub(celery, broker, refused):
    problem = instances.celery_worker_broker_mismatch(celery, broker)
    assert bool(problem) is refused
    if refused:
        assert f"Celery {celery}" in problem and "pin celery 5.5 or later" in problem
