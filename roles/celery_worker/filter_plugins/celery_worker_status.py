"""The worker part of the fleet's status (tasks/status.yml): what systemd and the instances say, as plain data."""


def celery_worker_unit_status(results: list, units: list, nodes: list) -> list:
    """Each unit's state, from systemd_service's looped results: name, node, load_state, active_state,
    sub_state and restarts, as the fleet_status_celery_worker contract has them (roles/fleet/README.md).

    units and nodes pair each worker unit with its Celery node; a unit without one (beat) gets "".
    """
    node_of = dict(zip(units, nodes, strict=False))
    found = []
    for result in results:
        # A unit systemd could not be asked about has no status, only the module's msg.
        status = result.get("status") or {}
        found.append(
            {
                "name": result["item"],
                "node": node_of.get(result["item"], ""),
                "load_state": status.get("LoadState", "unknown"),
                "active_state": status.get("ActiveState", "unknown"),
                "sub_state": status.get("SubState", result.get("msg", "unknown")),
                "restarts": status.get("NRestarts", "0"),
            }
        )
    return found


def celery_worker_consumed_queues(instances: list, default_queue: str = "celery") -> list:
    """The queues the instances consume, each once in first-seen order: an instance's own queues, or
    default_queue (the app's task_default_queue) when it names none."""
    found, seen = [], set()
    for instance in instances:
        for queue in instance.get("queues") or [default_queue]:
            # Case-blind, as Ansible's unique filter (which this replaces) compares text.
            key = queue.lower() if isinstance(queue, str) else queue
            if key not in seen:
                seen.add(key)
                found.append(queue)
    return found


class FilterModule:
    def filters(self):
        return {
            "celery_worker_unit_status": celery_worker_unit_status,
            "celery_worker_consumed_queues": celery_worker_consumed_queues,
        }
