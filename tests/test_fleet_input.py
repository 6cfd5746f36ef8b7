"""What the fleet role's filters (filter_plugins/fleet_input.py) find wrong with the command line of a day-two
operation: the workers named (-e worker=...)."""

import pytest
from role_code import load

fleet_input = load("roles/fleet/filter_plugins/fleet_input.py")

# The `groups` of an inventory with a hub, three workers and a host celery-fleet did not set up.
GROUPS = {
    "all": ["hub1", "worker1", "worker2", "worker3", "grafana1"],
    "ungrouped": [],
    "hub": ["hub1"],
    "workers": ["worker1", "worker2", "worker3"],
    "monitoring": ["grafana1"],
}


@pytest.mark.parametrize(
    ("worker", "names"),
    [
        ("worker1", ["worker1"]),
        ("worker1,worker2", ["worker1", "worker2"]),
        (" worker1 , worker2 ,", ["worker1", "worker2"]),
        (["worker3", " worker1 "], ["worker3", "worker1"]),
        ("", []),
        (" , ", []),
        (None, []),
    ],
)
def test_a_worker_list_is_split_at_commas_and_trimmed(worker, names):
    assert fleet_input.fleet_worker_list(worker) == names


def test_naming_no_worker_asks_for_one():
    problem = fleet_input.fleet_target_workers_problem([], GROUPS, "inventory/production")
    assert problem == "Name the worker: -e worker=<inventory name> (several: -e worker=a,b)."


def test_an_unknown_worker_is_named_with_the_inventory():
    problem = fleet_input.fleet_target_workers_problem(["worker1", "worker9", "hub1", "worker9"], GROUPS, "inv/prod")
    assert problem.startswith("worker9: no such host in the inventory (inv/prod); add it to the group `workers`")


def test_a_host_that_is_not_a_worker_is_named_in_the_order_given():
    problem = fleet_input.fleet_target_workers_problem(["worker1", "hub1", "grafana1"], GROUPS, "inv/prod")
    assert problem == (
        "hub1, grafana1: not in the group `workers` (a hub or another host); only workers can be named here."
    )


def test_workers_of_the_inventory_are_accepted():
    assert fleet_input.fleet_target_workers_problem(["worker2", "worker1"], GROUPS) == ""
    assert fleet_input.fleet_target_workers_problem(["worker1"], {"all": ["worker1"], "workers": ["worker1"]}) == ""


def test_an_inventory_without_workers_accepts_none():
    problem = fleet_input.fleet_target_workers_problem(["hub1"], {"all": ["hub1"], "hub": ["hub1"]})
    assert problem.startswith("hub1: not in the group `workers`")
