"""Which hubs join which: the cluster as each node sees it, turned into the steps that make one cluster of it."""

import json


def _members(view: dict, node: str) -> set:
    """The nodes a node counts as its cluster (itself included)."""
    return set(view.get("disk_nodes", []) or []) | set(view.get("ram_nodes", []) or []) | {node}


def _view(result: dict | None) -> dict | None:
    """A registered `rabbitmqctl cluster_status --formatter json` as data; None when the node did not answer."""
    if (result or {}).get("rc") == 0 and (result or {}).get("stdout"):
        return json.loads(result["stdout"])
    return None


def plan(nodes: list, views: dict) -> dict:
    """The seed every other node joins, the nodes that join it, and those the seed must forget first.

    nodes: the cluster's node names in the inventory's order. views: node -> `rabbitmqctl cluster_status
    --formatter json` of that node, for the nodes that answered (a node that did not is left alone).
    A node joins only when it is alone (a blank node, or one whose disk was lost): a node that belongs to
    another cluster of several is an error, never reset. The seed is the first running node of the largest
    cluster (the inventory's order breaks ties), so a rebuilt first hub joins the two others, not the reverse.
    A node the seed still lists (the old self of a rebuilt node) is forgotten before it joins again.
    """
    answered = [node for node in nodes if node in views]
    if not answered:
        raise ValueError("no hub's RabbitMQ node answered: start them, then run again")
    clusters = {node: _members(views[node], node) & set(nodes) for node in answered}

    def rank(node):
        running = set(views[node].get("running_nodes", []) or [])
        return (-len(clusters[node]), -len(running & clusters[node]), nodes.index(node))

    seed = min(answered, key=rank)
    seed_cluster = clusters[seed]
    alone = [node for node in answered if clusters[node] == {node} and node != seed]
    split = [node for node in answered if node not in seed_cluster and node not in alone]
    if split:
        raise ValueError(
            f"{', '.join(split)} belong to a cluster other than {seed}'s; they are never reset automatically: "
            "look at `rabbitmqctl cluster_status` on each hub, reset the nodes to drop (their queued messages "
            "are lost), then run again"
        )
    joining = [node for node in alone if not (node in seed_cluster and node in views[seed].get("running_nodes", []))]
    return {
        "seed": seed,
        "join": joining,
        "forget": [node for node in joining if node in seed_cluster],
    }


def rabbitmq_cluster_plan(nodes: list, statuses: dict) -> dict:
    """plan() from each hub's registered `rabbitmqctl cluster_status --formatter json` (inventory name ->
    result); a node's name is <prefix>@<inventory name>. A hub whose command failed did not answer."""
    views = {node: _view(statuses.get(node.split("@", 1)[1])) for node in nodes}
    return plan(nodes, {node: view for node, view in views.items() if view is not None})


def rabbitmq_forget_host(node: str, statuses: dict) -> str:
    """The first hub (statuses' order: inventory name -> registered cluster_status) whose node answered and
    still counts `node` as a member: where forget_cluster_node runs. Empty when none does (already forgotten)."""
    for host, result in statuses.items():
        view = _view(result)
        if view is not None and node in _members(view, "") and node not in (view.get("running_nodes") or []):
            return host
    return ""


class FilterModule:
    def filters(self):
        return {"rabbitmq_cluster_plan": rabbitmq_cluster_plan, "rabbitmq_forget_host": rabbitmq_forget_host}
