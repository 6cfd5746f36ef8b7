"""The broker's definitions as a backup keeps them: what a fresh broker can import."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "roles" / "rabbitmq" / "filter_plugins"))

from rabbitmq_definitions import rabbitmq_restorable_definitions


def binding(source: str, destination: str, kind: str = "queue") -> dict:
    return {"vhost": "celery", "source": source, "destination": destination, "destination_type": kind}


EXPORT = {
    "users": [{"name": "celery"}],
    "vhosts": [{"name": "celery"}],
    "queues": [
        {"vhost": "celery", "name": "celery", "durable": True},
        {"vhost": "celery", "name": "transient", "durable": False},
    ],
    "exchanges": [{"vhost": "celery", "name": "celeryev"}, {"vhost": "celery", "name": "celery"}],
    "bindings": [
        binding("celery", "celery"),
        binding("", "celery"),
        binding("amq.direct", "celery"),
        # Celery's exclusive event queue: not exported, but its binding is.
        binding("celeryev", "celeryev.4e475792"),
        binding("celery", "transient"),
        binding("gone", "celery"),
        binding("celeryev", "celery", kind="exchange"),
    ],
    "policies": [{"vhost": "celery", "name": "marker"}],
}


def test_bindings_to_queues_a_fresh_broker_lacks_are_left_out():
    kept = rabbitmq_restorable_definitions(EXPORT)
    assert kept["bindings"] == [
        binding("celery", "celery"),
        binding("", "celery"),
        binding("amq.direct", "celery"),
        binding("celeryev", "celery", kind="exchange"),
    ]


def test_only_durable_queues_are_kept_and_the_rest_is_untouched():
    kept = rabbitmq_restorable_definitions(EXPORT)
    assert [queue["name"] for queue in kept["queues"]] == ["celery"]
    for key in ("users", "vhosts", "exchanges", "policies"):
        assert kept[key] == EXPORT[key]
    # The export itself is left as it was.
    assert len(EXPORT["bindings"]) == 7
