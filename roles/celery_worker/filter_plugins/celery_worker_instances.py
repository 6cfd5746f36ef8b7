"""How a worker instance of celery_worker_instances becomes the environment its unit starts Celery with, and
which of the files found on a host the role wrote for instances that are gone."""

import os
import re

# The fleet's thread pool (files/celery_fleet_pool.py, in the settings folder): Celery's own
# `threads` and `solo` pools hold to no time limit and cannot stop a task (see that file).
FLEET_POOL = "celery_fleet_pool:ThreadPool"
FLEET_POOLS = ("threads", "solo")


def celery_worker_instance_environment(instance: dict, default_concurrency: int = 0) -> dict:
    """The variables of one instance's environment file: CELERY_WORKER_ARGS, the words the unit passes to
    `celery worker`, and CELERY_CUSTOM_WORKER_POOL where the fleet's pool replaces Celery's."""
    args: list[str] = []
    environment: dict[str, str] = {}
    if instance.get("queues"):
        args += ["--queues", ",".join(instance["queues"])]
    pool = instance.get("pool", "prefork")
    if pool in FLEET_POOLS:
        # Celery reads CELERY_CUSTOM_WORKER_POOL for `--pool custom` (celery/concurrency/__init__.py).
        args += ["--pool", "custom"]
        environment["CELERY_CUSTOM_WORKER_POOL"] = FLEET_POOL
    elif "pool" in instance:
        args += ["--pool", pool]
    # solo: one task at a time, in a thread of its own beside the connection's.
    concurrency = 1 if pool == "solo" else int(instance.get("concurrency", default_concurrency))
    if concurrency > 0:
        args += ["--concurrency", str(concurrency)]
    for key in ("max_tasks_per_child", "max_memory_per_child"):
        if key in instance:
            args += ["--" + key.replace("_", "-"), str(int(instance[key]))]
    environment["CELERY_WORKER_ARGS"] = " ".join(args)
    return environment


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def celery_worker_broker_mismatch(celery_version: str, broker_version: str) -> str:
    """Why this Celery cannot work with this RabbitMQ, or "" when it can.

    Celery before 5.5 declares its remote-control and event queues transient and not exclusive
    (control_queue_exclusive and event_queue_exclusive came in 5.5): RabbitMQ 4.0 deprecates such queues
    (denied here unless the rpc backend needs them), 4.3 refuses them.
    https://www.rabbitmq.com/docs/deprecated-features-list
    """
    if _version(broker_version) >= (4, 0) and _version(celery_version) < (5, 5):
        return (
            f"Celery {celery_version} declares transient non-exclusive queues, which RabbitMQ {broker_version} "
            "refuses or deprecates: pin celery 5.5 or later in the app's requirements"
        )
    return ""


# What the role writes per instance (tasks/service.yml); a name as tasks/input.yml allows it.
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
DROP_IN_FOLDER = re.compile(r"^celery-worker@(?P<name>.+)\.service\.d$")
DROP_IN_FILE = "50-celery-fleet.conf"


def celery_worker_stale_instance_files(
    listing: list, kept: list, instances_dir: str, systemd_dir: str = "/etc/systemd/system"
) -> list:
    """The paths in `listing` that the role wrote for an instance not in `kept`, to be removed.

    `listing` is what was found on the host: files of instances_dir, the drop-in folders
    celery-worker@<name>.service.d of systemd_dir and every entry in them. Selected are such an
    instance's arguments (<instances_dir>/<name>.env), its drop-in file (50-celery-fleet.conf) and its
    drop-in folder when nothing else is in it; never another program's file, a file the operator put
    beside ours, or the template's drop-ins (celery-worker@.service.d, the operator's for all instances).
    """
    instances_dir, systemd_dir = instances_dir.rstrip("/"), systemd_dir.rstrip("/")
    kept, listed = set(kept), set(listing)
    stale_files, folders = [], []
    for path in sorted(listed):
        parent, base = os.path.split(path)
        name = base.removesuffix(".env")
        if parent == instances_dir and name != base and INSTANCE_NAME.match(name) and name not in kept:
            stale_files.append(path)
        folder = DROP_IN_FOLDER.match(base)
        if parent == systemd_dir and folder and INSTANCE_NAME.match(folder["name"]) and folder["name"] not in kept:
            folders.append(path)
    stale_folders = []
    for folder in folders:
        held = {path for path in listed if os.path.dirname(path) == folder}
        own = os.path.join(folder, DROP_IN_FILE)
        stale_files += sorted(held & {own})
        if held <= {own}:
            stale_folders.append(folder)
    return stale_files + stale_folders


class FilterModule:
    def filters(self):
        return {
            "celery_worker_instance_environment": celery_worker_instance_environment,
            "celery_worker_broker_mismatch": celery_worker_broker_mismatch,
            "celery_worker_stale_instance_files": celery_worker_stale_instance_files,
        }
