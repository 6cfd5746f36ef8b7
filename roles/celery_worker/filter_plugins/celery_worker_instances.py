"""How a worker instance of celery_worker_instances becomes the environment its unit starts Celery with."""

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


class FilterModule:
    def filters(self):
        return {
            "celery_worker_instance_environment": celery_worker_instance_environment,
            "celery_worker_broker_mismatch": celery_worker_broker_mismatch,
        }
