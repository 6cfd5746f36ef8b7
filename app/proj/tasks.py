"""The tasks: add, a word-count map-reduce, a sleep for restart tests, and a crash for the dead-letter queue."""

import os
import signal
import socket
import time
from collections.abc import Iterable

from celery import chord, group

from . import wordcount
from .celery import app


@app.task
def add(x, y):
    """Return x + y."""
    return x + y


@app.task
def count_words(text: str) -> dict[str, int]:
    """Map step: the word counts of one text."""
    return wordcount.count_words(text)


@app.task
def merge_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    """Reduce step: the sum of several texts' word counts."""
    return wordcount.merge_counts(counts)


@app.task
def crash_worker() -> None:
    """Kill the whole worker instance running it, as a crash in C code or the kernel's OOM killer would.

    Its worker lost, the broker delivers the task again, to the next worker, which dies too: after the
    hub's delivery limit (rabbitmq_delivery_limit) the task lands in the dead-letter queue instead. The
    demonstration of that queue; never call it on a fleet that does real work.
    """
    # systemd starts each instance in a process group of its own: the main process and every pool child.
    os.killpg(os.getpgrp(), signal.SIGKILL)


@app.task
def sleep(seconds: float) -> dict:
    """Sleep, then say where and when: the restart and lost-worker tests count these.

    ``worker_pid`` is the worker's main process (the pool child's parent),
    the process systemd knows as the unit's main PID; ``started`` and
    ``ended`` (epoch seconds) tell whether two runs of one task overlapped.
    """
    started = time.time()
    time.sleep(float(seconds))
    return {
        "slept": float(seconds),
        "hostname": socket.gethostname(),
        "worker_pid": os.getppid(),
        "started": started,
        "ended": time.time(),
    }


def backend_supports_chords() -> bool:
    """Whether the result backend can run a chord (the rpc backend cannot)."""
    try:
        app.backend.ensure_chords_allowed()
    except NotImplementedError:
        return False
    return True


def word_count(texts: Iterable[str], timeout: float = 60.0) -> dict[str, int]:
    """Count the words of many texts on the workers, one task per text.

    With a backend that supports chords (MongoDB), the reduce step runs on a
    worker as the chord's callback. The rpc backend cannot run chords
    (results travel back to the caller only), so the caller reduces the
    group's results itself.
    """
    header = group(count_words.s(text) for text in texts)
    if backend_supports_chords():
        return chord(header)(merge_counts.s()).get(timeout=timeout)
    return wordcount.merge_counts(header.apply_async().get(timeout=timeout))
