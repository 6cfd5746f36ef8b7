"""Run on a client with pika: log in to a broker over AMQPS, and try what a login allows.

Each attempt is {"user", "password", "vhost"} plus what to try: "roundtrip"
(publish to an exclusive queue and read it back) or "transient" (declare a
transient queue that is not exclusive, as Celery's rpc backend does).
"""

import ssl
import uuid

import pika


def connect(args: dict, attempt: dict) -> pika.BlockingConnection:
    ctx = ssl.create_default_context(cafile=args["ca"])
    params = pika.ConnectionParameters(
        host=args["host"],
        port=args.get("port", 5671),
        virtual_host=attempt["vhost"],
        credentials=pika.PlainCredentials(attempt["user"], attempt["password"]),
        ssl_options=pika.SSLOptions(ctx, args["host"]),
        connection_attempts=1,
        socket_timeout=10,
    )
    return pika.BlockingConnection(params)


def roundtrip(connection: pika.BlockingConnection) -> dict:
    channel = connection.channel()
    channel.confirm_delivery()
    queue = "verify-" + uuid.uuid4().hex
    channel.queue_declare(queue, exclusive=True)
    body = uuid.uuid4().hex.encode()
    channel.basic_publish("", queue, body)
    received = None
    for method, _props, message in channel.consume(queue, inactivity_timeout=10):
        if method is not None:
            channel.basic_ack(method.delivery_tag)
            received = message
        break
    channel.cancel()
    return {"ok": received == body}


def transient(connection: pika.BlockingConnection) -> dict:
    try:
        connection.channel().queue_declare(
            "verify-" + uuid.uuid4().hex, durable=False, exclusive=False, auto_delete=True
        )
    except pika.exceptions.AMQPError as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


def one(args: dict, attempt: dict) -> dict:
    try:
        connection = connect(args, attempt)
    except Exception as error:  # the kind of refusal is the result
        return {"ok": False, "error": type(error).__name__, "detail": repr(error)[:300]}
    try:
        action = {"roundtrip": roundtrip, "transient": transient}.get(attempt.get("try", ""))
        return action(connection) if action else {"ok": True}
    except Exception as error:
        return {"ok": False, "error": type(error).__name__, "detail": repr(error)[:300]}
    finally:
        if connection.is_open:
            connection.close()


def main(args: dict) -> dict:
    return {name: one(args, attempt) for name, attempt in args["attempts"].items()}
