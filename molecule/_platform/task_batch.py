"""Send a batch of sleep tasks from the operator's machine and count their effects.

Usage: task_batch.py NAME COUNT SECONDS MIDWAY TIMEOUT [COUNTDOWN DELAYED]

Task i is sleep(SECONDS) with a link, add.s(i), routed to a durable queue
that no worker consumes: when task i succeeds, its worker publishes that
receipt (a persistent message whose arguments are the task's result and i)
before it acknowledges the task. This script drains the queue and counts the
receipts by i. The count does not depend on the result backend and survives
a broker restart (durable queue, persistent messages, publisher confirms).
A task that runs twice after a redelivery leaves two receipts for one i;
an i without a receipt is a lost task. Each receipt carries when its run
began and ended: two runs of one task that overlap in time are counted
("overlapping"), and must never happen (a run cut short by a lost connection
is stopped before the broker delivers the task again).

With COUNTDOWN and DELAYED, the first DELAYED tasks are sent with that
countdown (seconds) and the rest without: the report says how long the
others took, and how early or late each delayed run began against its ETA.

Writes /var/tmp/e2e-NAME.midway once MIDWAY receipts are in (the test then
disrupts the fleet) and /var/tmp/e2e-NAME.json at the end.
"""

import itertools
import json
import os
import sys
import time
from collections import Counter, defaultdict

from kombu import Consumer
from kombu.exceptions import OperationalError

from proj.celery import app
from proj.tasks import add, sleep


def overlap(runs: list[tuple[float, float]]) -> bool:
    """Whether any two runs of one task were going at the same time."""
    runs = sorted(runs)
    return any(after[0] < before[1] for before, after in itertools.pairwise(runs))


def write(path, data):
    with open(path + ".tmp", "w") as out:
        json.dump(data, out)
    os.rename(path + ".tmp", path)


def main(name, count, seconds, midway, timeout, countdown=0.0, delayed=0):
    prefix = f"/var/tmp/e2e-{name}"
    queue = app.amqp.queues[f"e2e-receipts-{name}"]
    with app.connection_for_write() as conn:
        queue.bind(conn.default_channel).declare()
        queue.bind(conn.default_channel).purge()

    started = time.time()
    with app.producer_or_acquire() as producer:
        for i in range(count):
            task = sleep.s(seconds).set(ignore_result=True, countdown=countdown if i < delayed else None)
            task.apply_async(link=add.s(i).set(queue=queue.name), producer=producer)
    sent = time.time()

    receipts = defaultdict(dict)  # i -> {receipt id: (started, ended) of that run of task i}
    hosts = Counter()
    last_by_host = {}
    last = None

    def on_receipt(body, message):
        nonlocal last
        (result, i), _kwargs, _embed = body
        receipts[i][message.headers["id"]] = (result["started"], result["ended"])
        hosts[result["hostname"]] += 1
        last = last_by_host[result["hostname"]] = time.time()
        message.ack()
        if len(receipts) == midway:
            write(prefix + ".midway", {"received": midway, "at": last})

    # Drain the receipts until every task has left one or time is up. A
    # broker restart drops the connection: connect again, send nothing again.
    deadline = started + timeout
    lost_connection = (OSError, OperationalError, *app.connection_for_read().connection_errors)
    reconnects = 0
    error = None
    while len(receipts) < count and time.time() < deadline:
        try:
            with app.connection_for_read() as conn, Consumer(conn, [queue], callbacks=[on_receipt], accept=["json"]):
                while len(receipts) < count and time.time() < deadline:
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass
        except lost_connection as lost:
            reconnects += 1
            print(f"receipts: connection lost ({lost!r}), reconnecting", file=sys.stderr, flush=True)
            time.sleep(1)
        except Exception as unexpected:  # in the report, so the test fails at once and says why
            error = repr(unexpected)
            break

    wanted = set(range(count))
    report = {
        "sent": count,
        "completed": len(wanted & receipts.keys()),
        "missing": sorted(wanted - receipts.keys())[:20],
        "unexpected": sorted(receipts.keys() - wanted)[:20],
        "ran_twice": sum(1 for runs in receipts.values() if len(runs) > 1),
        "overlapping": sum(1 for runs in receipts.values() if overlap(list(runs.values()))),
        "by_host": dict(hosts),
        "last_by_host": last_by_host,
        "started": started,
        "send_seconds": round(sent - started, 2),
        "last_receipt": last,
        "run_seconds": round((last or time.time()) - started, 2),
        "reconnects": reconnects,
        "error": error,
    }
    report["tasks_per_second"] = round(report["completed"] / report["run_seconds"], 1)
    if delayed:
        # Against the time each delayed task was due (the batch was sent within send_seconds).
        late = [run[0] - (started + countdown) for i in range(delayed) for run in receipts.get(i, {}).values()]
        report["delayed_late"] = [round(min(late), 2), round(max(late), 2)] if late else None
        done = [run[1] - started for i in range(delayed, count) for run in receipts.get(i, {}).values()]
        report["immediate_seconds"] = round(max(done), 2) if done else None
    print(json.dumps(report), flush=True)
    write(prefix + ".json", report)


if __name__ == "__main__":
    delay = (float(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 6 else ()
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), *delay)
