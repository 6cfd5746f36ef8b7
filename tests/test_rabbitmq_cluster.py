"""Which hubs join which: the plan the rabbitmq role follows to make one cluster of three nodes."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "roles" / "rabbitmq" / "filter_plugins"))

import json

from rabbitmq_cluster import plan, rabbitmq_cluster_plan, rabbitmq_forget_host

NODES = ["rabbit@hub1", "rabbit@hub2", "rabbit@hub3"]


def alone(node: str) -> dict:
    return {"disk_nodes": [node], "running_nodes": [node]}


def clustered(members: list, running: list) -> dict:
    return {"disk_nodes": members, "running_nodes": running}


def test_three_blank_nodes_join_the_first():
    steps = plan(NODES, {node: alone(node) for node in NODES})
    assert steps == {"seed": "rabbit@hub1", "join": ["rabbit@hub2", "rabbit@hub3"], "forget": []}


def test_a_formed_cluster_needs_nothing():
    view = clustered(NODES, NODES)
    assert plan(NODES, dict.fromkeys(NODES, view)) == {
        "seed": "rabbit@hub1",
        "join": [],
        "forget": [],
    }


def test_a_rebuilt_first_hub_joins_the_two_others_which_forget_its_old_self():
    view = clustered(NODES, NODES[1:])
    steps = plan(NODES, {"rabbit@hub1": alone("rabbit@hub1"), **dict.fromkeys(NODES[1:], view)})
    assert steps == {"seed": "rabbit@hub2", "join": ["rabbit@hub1"], "forget": ["rabbit@hub1"]}


def test_a_node_that_did_not_answer_is_left_alone():
    view = clustered(NODES, NODES[:2])
    steps = plan(NODES, dict.fromkeys(NODES[:2], view))
    assert steps == {"seed": "rabbit@hub1", "join": [], "forget": []}


def test_a_node_in_another_cluster_of_several_is_never_reset():
    other = clustered(["rabbit@hub2", "rabbit@hub3"], ["rabbit@hub2", "rabbit@hub3"])
    views = {"rabbit@hub1": alone("rabbit@hub1"), "rabbit@hub2": other, "rabbit@hub3": other}
    # The two clustered nodes are the larger cluster: the lone first hub joins them.
    assert plan(NODES, views)["join"] == ["rabbit@hub1"]
    split = {
        "rabbit@hub1": clustered(["rabbit@hub1", "rabbit@hub2"], ["rabbit@hub1", "rabbit@hub2"]),
        "rabbit@hub2": clustered(["rabbit@hub1", "rabbit@hub2"], ["rabbit@hub1", "rabbit@hub2"]),
        "rabbit@hub3": clustered(["rabbit@hub3", "rabbit@other"], ["rabbit@hub3"]),
    }
    assert plan(NODES, split)["join"] == ["rabbit@hub3"]


def test_two_clusters_of_two_stop_the_run():
    pair = clustered(["rabbit@hub1", "rabbit@hub2"], ["rabbit@hub1", "rabbit@hub2"])
    nodes = [*NODES, "rabbit@hub4"]
    other = clustered(["rabbit@hub3", "rabbit@hub4"], ["rabbit@hub3", "rabbit@hub4"])
    views = {"rabbit@hub1": pair, "rabbit@hub2": pair, "rabbit@hub3": other, "rabbit@hub4": other}
    with pytest.raises(ValueError, match="rabbit@hub3, rabbit@hub4 belong to a cluster other than rabbit@hub1"):
        plan(nodes, views)


def test_no_answer_at_all_is_an_error():
    with pytest.raises(ValueError, match="no hub's RabbitMQ node answered"):
        plan(NODES, {})


def test_the_hubs_registered_results_are_read_and_a_failed_one_is_a_silent_node():
    statuses = {
        "hub1": {"rc": 0, "stdout": json.dumps(alone("rabbit@hub1"))},
        "hub2": {"rc": 0, "stdout": json.dumps(alone("rabbit@hub2"))},
        "hub3": {"rc": 69, "stdout": ""},
    }
    assert rabbitmq_cluster_plan(NODES, statuses) == {"seed": "rabbit@hub1", "join": ["rabbit@hub2"], "forget": []}


def test_a_lost_node_is_forgotten_once_on_the_first_hub_that_still_counts_it():
    members = [*NODES[:2], "rabbit@old3"]
    view = json.dumps(clustered(members, NODES[:2]))
    statuses = {"hub1": {"rc": 69, "stdout": ""}, "hub2": {"rc": 0, "stdout": view}, "hub3": {"rc": 0, "stdout": ""}}
    assert rabbitmq_forget_host("rabbit@old3", statuses) == "hub2"
    forgotten = json.dumps(clustered(NODES[:2], NODES[:2]))
    assert rabbitmq_forget_host("rabbit@old3", {"hub2": {"rc": 0, "stdout": forgotten}}) == ""
    # A node that still runs is never forgotten.
    assert rabbitmq_forget_host("rabbit@hub2", {"hub2": {"rc": 0, "stdout": view}}) == ""
