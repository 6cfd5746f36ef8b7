"""The part of a broker's exported definitions that another broker can import."""


def _key(item: dict, name: str = "name") -> tuple:
    return (item.get("vhost"), item.get(name))


def rabbitmq_restorable_definitions(definitions: dict) -> dict:
    """`rabbitmqctl export_definitions` as `import_definitions` takes it back on a fresh broker.

    The export lists the bindings of every queue, but not the queues that live only as long as their
    connection (Celery's exclusive event and remote-control queues): importing a binding to one fails the
    whole import (resources_missing). Transient queues are left out as well: RabbitMQ 4 refuses to declare
    a transient queue that is not exclusive. What is kept: every durable queue, and the bindings whose
    source and destination are kept (or built in: the default exchange, amq.*).
    """
    result = dict(definitions)
    queues = [queue for queue in definitions.get("queues", []) if queue.get("durable", True)]
    kept = {("queue", *_key(queue)) for queue in queues}
    kept |= {("exchange", *_key(exchange)) for exchange in definitions.get("exchanges", [])}

    def known(kind: str, vhost: str, name: str) -> bool:
        return (kind == "exchange" and (name == "" or name.startswith("amq."))) or (kind, vhost, name) in kept

    result["queues"] = queues
    result["bindings"] = [
        binding
        for binding in definitions.get("bindings", [])
        if known("exchange", binding.get("vhost"), binding.get("source", ""))
        and known(binding.get("destination_type", "queue"), binding.get("vhost"), binding.get("destination"))
    ]
    return result


class FilterModule:
    def filters(self):
        return {"rabbitmq_restorable_definitions": rabbitmq_restorable_definitions}
