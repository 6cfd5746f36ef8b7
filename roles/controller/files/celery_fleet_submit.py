"""Send many Celery tasks fast, each one still confirmed by the broker.

controller.yml puts this file beside celeryconfig.py on the operator's machine:

    from celery_fleet_submit import submit
    from proj.tasks import add

    results = submit(add.s(i, i) for i in range(100_000))        # [AsyncResult, ...], in order
    results = submit(add.chunks(pairs, 100).group().tasks)      # 100 calls per message

A plain ``task.delay()`` waits for the broker's confirmation of each message
before it sends the next (the fleet's settings turn publisher confirms on):
one round trip per task, a few hundred tasks a second over the internet.
``submit`` keeps the confirmations and stops waiting for each: one
connection, its channel in confirm mode, messages sent back to back, the
broker's acks read as they arrive (one ack may confirm many). At most
``window`` messages wait for their ack at any time; ``submit`` returns only
when every message is confirmed.

When the broker refuses a message (a nack) or the connection is lost,
``SubmitError`` says how many of the signatures, from the first, are
confirmed (``confirmed``): send the rest again. A message sent but not yet
confirmed may have reached the broker, so a task of the rest may run twice;
tasks that must not are written to be idempotent.
"""

from collections import deque
from collections.abc import Iterable

from celery import current_app
from kombu import Producer

__all__ = ["SubmitError", "submit"]


class SubmitError(RuntimeError):
    """The broker did not confirm every message: the first `confirmed` signatures are queued."""

    def __init__(self, message: str, confirmed: int):
        super().__init__(f"{message} ({confirmed} confirmed, from the first)")
        self.confirmed = confirmed


class _Confirms:
    """The delivery tags the broker has yet to confirm, in order (tags count from 1 on a confirm-mode channel)."""

    def __init__(self) -> None:
        self.sent = 0
        self.waiting: deque[int] = deque()
        self.acked_out_of_order: set[int] = set()
        self.refused: int | None = None

    def published(self) -> None:
        self.sent += 1
        self.waiting.append(self.sent)

    def ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            while self.waiting and self.waiting[0] <= tag:
                self.waiting.popleft()
        else:
            self.acked_out_of_order.add(tag)
        while self.waiting and self.waiting[0] in self.acked_out_of_order:
            self.acked_out_of_order.discard(self.waiting.popleft())

    def nack(self, tag: int, multiple: bool) -> None:
        first = self.waiting[0] if multiple and self.waiting else tag
        self.refused = first if self.refused is None else min(self.refused, first)

    @property
    def confirmed(self) -> int:
        """How many messages, from the first, the broker has confirmed."""
        return self.waiting[0] - 1 if self.waiting else self.sent


def submit(signatures: Iterable, app=None, window: int = 5000, timeout: float = 60.0) -> list:
    """Send every signature as a task message; return their AsyncResults once the broker has confirmed them all.

    window: messages that may wait for their ack at once; timeout: seconds to wait for the broker's next ack.
    """
    app = app or current_app
    # This connection only: confirms are read below, not waited for one by one.
    options = dict(app.conf.broker_transport_options or {}, confirm_publish=False)
    confirms = _Confirms()
    results = []
    with app.connection_for_write(transport_options=options) as connection:
        connection.ensure_connection(max_retries=3)
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(confirms.ack)
        channel.events["basic_nack"].add(confirms.nack)
        producer = Producer(channel)

        def wait_until(most_waiting: int) -> None:
            while len(confirms.waiting) > most_waiting and confirms.refused is None:
                try:
                    connection.drain_events(timeout=timeout)
                except Exception as err:  # a timeout, or the connection lost
                    raise SubmitError(f"no confirmation from the broker: {err!r}", confirms.confirmed) from err
            if confirms.refused is not None:
                raise SubmitError(
                    f"the broker refused message {confirms.refused}", min(confirms.confirmed, confirms.refused - 1)
                )

        try:
            for signature in signatures:
                # retry=False: a reconnect would open a channel without confirms, and count its tags anew.
                results.append(signature.apply_async(producer=producer, retry=False))
                confirms.published()
                if len(confirms.waiting) >= window:
                    wait_until(window // 2)
        except SubmitError:
            raise
        except Exception as err:
            raise SubmitError(f"sending failed: {err!r}", confirms.confirmed) from err
        wait_until(0)
    return results
