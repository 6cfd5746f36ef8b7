"""The workers' thread pool (roles/celery_worker/files/celery_fleet_pool.py): time limits, terminate_job and a
thread that will not stop, first against the pool alone, then inside a real Celery worker (in-memory broker)."""

import importlib.util
import logging
import sys
import threading
import time
from pathlib import Path

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "celery_fleet_pool", ROOT / "roles/celery_worker/files/celery_fleet_pool.py"
)
celery_fleet_pool = importlib.util.module_from_spec(_spec)
sys.modules["celery_fleet_pool"] = celery_fleet_pool
_spec.loader.exec_module(celery_fleet_pool)


class Calls:
    """What the pool told the worker (Request's callbacks), and what the task saw."""

    def __init__(self):
        self.results, self.timeouts, self.accepted, self.raised = [], [], [], []
        self.done = threading.Event()

    def callback(self, result):
        self.results.append(result)

    def timeout_callback(self, soft, seconds):
        self.timeouts.append((soft, seconds))

    def accept_callback(self, pid, when):
        self.accepted.append(pid)


def cooperative(calls, seconds, catch_soft=False):
    """A task that waits in short steps (as one on a socket with a timeout does)."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            try:
                time.sleep(0.02)
            except SoftTimeLimitExceeded:
                calls.raised.append("soft")
                if not catch_soft:
                    raise
        return "finished"
    except BaseException as exc:
        calls.raised.append(type(exc).__name__)
        raise
    finally:
        calls.done.set()


@pytest.fixture
def pool():
    pool = celery_fleet_pool.ThreadPool(limit=2, soft_timeout=None, timeout=None)
    pool.on_start()
    yield pool
    pool.on_stop()


def apply(pool, calls, target, *args, soft=None, hard=None):
    return pool.apply_async(
        target,
        args=(calls, *args),
        callback=calls.callback,
        accept_callback=calls.accept_callback,
        timeout_callback=calls.timeout_callback,
        soft_timeout=soft,
        timeout=hard,
    )


def test_the_soft_limit_raises_in_the_task_and_its_failure_is_its_answer(pool):
    calls = Calls()
    apply(pool, calls, cooperative, 10, soft=0.3, hard=5)
    assert calls.done.wait(3)
    time.sleep(0.3)
    assert calls.raised == ["soft", "SoftTimeLimitExceeded"]
    assert calls.timeouts == [(True, 0.3)]
    # apply_target answers for a task that raised an Exception by raising it: no result, no second answer
    assert calls.results == []


def test_a_task_within_its_limits_answers_once(pool):
    calls = Calls()
    apply(pool, calls, cooperative, 0.2, soft=2, hard=3)
    assert calls.done.wait(3)
    time.sleep(0.3)
    assert calls.results == ["finished"] and calls.timeouts == [] and calls.raised == []


def test_the_hard_limit_answers_for_the_task_and_drops_its_own_answer(pool):
    calls = Calls()
    # The task swallows its soft limit and goes on: the hard limit ends it.
    apply(pool, calls, cooperative, 10, True, soft=0.2, hard=0.6)
    assert calls.done.wait(3)
    time.sleep(0.3)
    assert calls.timeouts == [(True, 0.2), (False, 0.6)]
    assert calls.raised == ["soft", "Stopped"]
    assert calls.results == []


def test_terminate_job_stops_the_thread_by_the_pid_it_was_accepted_with(pool):
    calls = Calls()
    result = apply(pool, calls, cooperative, 10)
    time.sleep(0.2)
    assert len(calls.accepted) == 1 and calls.accepted[0] != threading.get_native_id()
    pool.terminate_job(calls.accepted[0], 15)
    assert calls.done.wait(2)
    assert calls.raised == ["Stopped"] and calls.results == []
    result.terminate(15)  # what Request.cancel calls as well: harmless once the task is gone


def test_a_thread_blocked_outside_python_ends_the_process(pool, monkeypatch):
    stuck = []
    monkeypatch.setattr(celery_fleet_pool.ThreadPool, "stop_grace", 0.4)
    monkeypatch.setattr(pool, "_exit_stuck", lambda job: stuck.append(job.native_id))
    calls = Calls()
    # One sleep of 3 s: no exception reaches it before it returns.
    apply(pool, calls, lambda calls: time.sleep(3), soft=0.1, hard=0.3)
    time.sleep(1.5)
    assert stuck and calls.timeouts[:2] == [(True, 0.1), (False, 0.3)]


def test_a_task_that_caught_its_stop_is_stopped_again_only_once_back_in_its_own_code(pool):
    """The watchdog sends Stopped again to a task that caught it (as Celery's tracer does, then logs it).
    Raised inside logging's code, it can leave a handler's lock held: every later log line, the worker's
    own too, would wait for ever. The pool waits until the task has left the log call."""
    emitting, release = threading.Event(), threading.Event()

    class Slow(logging.Handler):
        def emit(self, record):
            emitting.set()
            release.wait(2)

    log = logging.getLogger("test_celery_fleet_pool.slow")
    handler = Slow()
    log.addHandler(handler)
    log.propagate = False

    again = Calls()

    def catches_then_logs(calls):
        try:
            cooperative(calls, 10)
        except celery_fleet_pool.Stopped:
            log.warning("stopped: a line the handler takes its time with")
            calls.raised.append("logged")
            cooperative(again, 10)

    calls = Calls()
    try:
        apply(pool, calls, catches_then_logs)
        time.sleep(0.2)
        pool.terminate_job(calls.accepted[0], 15)
        assert emitting.wait(2)
        time.sleep(0.6)
        # Still inside the handler: nothing raised again yet.
        assert calls.raised == ["Stopped"], calls.raised
        release.set()
        assert again.done.wait(2)
        assert (calls.raised, again.raised) == (["Stopped", "logged"], ["Stopped"])
        # The handler's lock was let go.
        assert handler.lock.acquire(timeout=1)
        handler.lock.release()
    finally:
        release.set()
        log.removeHandler(handler)


@pytest.fixture(scope="module")
def worker_app():
    app = Celery("pool_test", broker="memory://", backend="cache+memory://")
    app.conf.update(
        task_acks_late=True,
        task_soft_time_limit=1,
        task_time_limit=2,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )

    @app.task(name="wait")
    def wait(seconds, swallow=False):
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            try:
                time.sleep(0.02)
            except SoftTimeLimitExceeded:
                if not swallow:
                    raise
        return seconds

    with start_worker(app, pool=celery_fleet_pool.ThreadPool, concurrency=2, perform_ping_check=False):
        yield app, wait


def test_in_a_worker_the_soft_limit_fails_the_task_and_the_worker_goes_on(worker_app):
    _, wait = worker_app
    long, short = wait.delay(5), wait.delay(0.1)
    with pytest.raises(SoftTimeLimitExceeded):
        long.get(timeout=4)
    assert short.get(timeout=4) == 0.1
    assert wait.delay(0.1).get(timeout=4) == 0.1


def test_in_a_worker_the_hard_limit_fails_the_task_with_time_limit_exceeded(worker_app):
    _, wait = worker_app
    with pytest.raises(TimeLimitExceeded):
        wait.delay(5, True).get(timeout=5)
    assert wait.delay(0.1).get(timeout=4) == 0.1


def test_draining_at_a_warm_shutdown_keeps_the_event_loops_timers_firing():
    """Broker heartbeats are timers of the worker's event loop, which the main thread fires; draining the pool
    blocks that thread (celery#9986 for prefork), so the pool fires them while it waits."""
    from kombu.asynchronous import Hub, set_event_loop

    hub = Hub()
    set_event_loop(hub)
    fired = []
    hub.call_repeatedly(0.1, lambda: fired.append(time.monotonic()))
    pool = celery_fleet_pool.ThreadPool(limit=1, soft_timeout=None, timeout=None)
    pool.on_start()
    calls = Calls()
    apply(pool, calls, cooperative, 1.5)
    time.sleep(0.1)
    try:
        started = time.monotonic()
        pool.on_stop()  # returns once the task is done
        assert calls.done.is_set() and time.monotonic() - started > 1
        assert len([at for at in fired if at >= started]) >= 2
    finally:
        set_event_loop(None)
        hub.close()
