"""Decisions across a play's workers (the celery_worker role's filter_plugins/celery_worker_hosts.py): which host
builds a platform's virtualenv, and whether exactly the right workers run the scheduler."""

import pytest
from role_code import load

hosts = load("roles/celery_worker/filter_plugins/celery_worker_hosts.py")

DEBIAN12, DEBIAN13 = "3f1c0a9e2b7d", "8a2e41c07f55"


def hostvars(**facts: tuple) -> dict:
    """hostvars as tasks/venv.yml leaves them: each host's (celery_worker_venv_missing, celery_worker_venv_id);
    None for a host that has not set them (it failed, or left the play)."""
    return {
        host: {"inventory_hostname": host}
        if pair is None
        else {"inventory_hostname": host, "celery_worker_venv_missing": pair[0], "celery_worker_venv_id": pair[1]}
        for host, pair in facts.items()
    }


def test_the_first_host_missing_a_platforms_virtualenv_builds_it():
    facts = hostvars(w1=(False, DEBIAN12), w2=(True, DEBIAN12), w3=(True, DEBIAN13), w4=(True, DEBIAN12))
    play = ["w1", "w2", "w3", "w4"]
    assert hosts.celery_worker_venv_build_host(play, facts, DEBIAN12) == "w2"
    assert hosts.celery_worker_venv_build_host(play, facts, DEBIAN13) == "w3"


def test_the_play_order_chooses_and_hosts_without_the_facts_are_passed_over():
    facts = hostvars(w1=None, w2=(True, DEBIAN12), w3=(True, DEBIAN12))
    assert hosts.celery_worker_venv_build_host(["w1", "w3", "w2"], facts, DEBIAN12) == "w3"


def test_no_builder_when_no_host_misses_it():
    facts = hostvars(w1=(False, DEBIAN12), w2=(True, DEBIAN13))
    assert hosts.celery_worker_venv_build_host(["w1", "w2"], facts, DEBIAN12) == ""


@pytest.mark.parametrize(
    ("beat_hosts", "periodic", "expected"),
    [
        ([], False, ""),
        (["w1"], False, ""),
        (["w1"], True, ""),
        (
            ["w1", "w3"],
            False,
            "celery_worker_beat is true on w1 and w3: each would send every periodic task, so they would run twice. "
            "Set it on one worker only.",
        ),
        (["w1", "w2", "w3"], True, "celery_worker_beat is true on w1 and w2 and w3: each would send"),
        (
            [],
            True,
            "fleet_celery_beat is true (the app has periodic tasks), but no worker runs the scheduler: set "
            "celery_worker_beat: true on one worker (its host_vars).",
        ),
    ],
    ids=["no schedule", "a scheduler unasked", "one scheduler", "two", "three", "none for periodic tasks"],
)
def test_one_worker_at_most_runs_the_scheduler_and_one_does_for_periodic_tasks(beat_hosts, periodic, expected):
    problem = hosts.celery_worker_beat_problem(beat_hosts, periodic)
    assert problem.startswith(expected) and bool(problem) == bool(expected)


def test_a_deploy_switches_every_fresh_host_at_once_then_running_ones_in_batches():
    assert hosts.celery_worker_deploy_batches(["w3", "w4", "w5"], "25%") == [3, "25%"]
    assert hosts.celery_worker_deploy_batches(["w1"], 1) == [1, 1]


def test_a_fleet_that_runs_everywhere_deploys_in_batches_only():
    assert hosts.celery_worker_deploy_batches([], "25%") == ["25%"]
