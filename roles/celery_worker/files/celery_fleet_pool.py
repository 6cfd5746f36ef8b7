"""Celery's thread pool, holding to the fleet's time limits (installed by the celery_worker role).

Celery's own thread pool (celery.concurrency.thread, 5.6) drops task_soft_time_limit and
task_time_limit, cannot stop a running task (terminate_job: revoke with terminate, and
worker_cancel_long_running_tasks_on_connection_loss raise NotImplementedError, celery#7185),
and sends no broker heartbeats while it drains at a warm shutdown. Then the broker, not
Celery, ends a long task, and delivers it again while the first run goes on. This pool:

- raises SoftTimeLimitExceeded in the task's thread at the soft limit (the task fails, once,
  as on prefork);
- at the hard limit answers for the task as prefork does (TimeLimitExceeded, acknowledged)
  and stops its thread;
- stops a task's thread for terminate_job (a revoke with terminate, a lost connection);
- ends the whole process when a thread told to stop still runs STOP_GRACE seconds later
  (blocked in C code, which no exception reaches): nothing runs past its limit, and systemd
  starts the instance again; the other tasks it held are delivered again;
- keeps the event loop's timers (broker heartbeats) firing while it drains at a warm
  shutdown, as Celery 5.6.1 does for prefork (celery#9986).

An exception reaches a thread at its next Python instruction (PyThreadState_SetAsyncExc):
code waiting on a socket with a timeout, or sleeping in short steps, is stopped at once. The
watchdog sends it again while the task goes on (it may have caught it), but only while the
thread runs the task's own code: never while Celery handles the first (stores the result,
logs it) nor inside logging's or threading's code, where it could leave a lock held (one log
handler's lock held for ever hangs every thread that logs, the worker's too).

The worker takes it with --pool custom and CELERY_CUSTOM_WORKER_POOL=celery_fleet_pool:ThreadPool
(celery/concurrency/__init__.py); the role's unit sets both for `threads` and `solo` (one thread:
one task at a time, while the main thread keeps the broker connection alive).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import amqp
import celery
import kombu
from celery.concurrency import thread as celery_thread
from celery.concurrency.base import apply_target
from celery.exceptions import Reject, SoftTimeLimitExceeded

logger = logging.getLogger("celery.worker.fleet_pool")

# Seconds a thread told to stop may take before the process ends.
STOP_GRACE = 5.0
# How often the watchdog looks at the running tasks.
TICK = 0.2
# Exit status when a thread would not stop (EX_SOFTWARE): the unit's Restart=on-failure.
EXIT_STUCK = 70


_CELERY = os.path.dirname(celery.__file__)
# Where an exception must not reach a task's thread: the libraries around the task (Celery's
# tracing, the broker's client) and the code that holds locks (logging, threading, queues)...
_LIBRARY_DIRS = tuple(
    os.path.dirname(module.__file__) + os.sep for module in (celery, kombu, amqp, logging, concurrent.futures)
)
_LIBRARY_FILES = frozenset({threading.__file__, queue.__file__})
# ...but for Celery's own wrappers of a task's body (autoretry_for, Task.__call__).
_BODY_WRAPPERS = frozenset({os.path.join(_CELERY, "app", "autoretry.py"), os.path.join(_CELERY, "app", "task.py")})
# The frames that call a task's body: Celery's tracer, or this pool's wrapper (a bare target).
_TRACER = (os.path.join(_CELERY, "app", "trace.py"), "trace_task")
_WRAPPER = (__file__, "bounded")


def in_task_body(ident: int) -> bool:
    """Whether thread `ident` runs its task's own code now, outside any library frame (innermost first)."""
    frame = sys._current_frames().get(ident)
    below = False  # a frame of the task's own, called by the tracer or the wrapper
    while frame is not None:
        code = frame.f_code
        if (code.co_filename, code.co_name) in (_TRACER, _WRAPPER):
            return below
        if code.co_filename not in _BODY_WRAPPERS and (
            code.co_filename.startswith(_LIBRARY_DIRS) or code.co_filename in _LIBRARY_FILES
        ):
            return False
        below = True
        frame = frame.f_back
    return False


class Stopped(Reject):
    """Ends a task the pool has already answered for: no result stored, nothing acknowledged twice."""

    def __init__(self, *_: Any) -> None:
        super().__init__("stopped by the worker's pool", requeue=False)


def raise_in_thread(ident: int, exc_type: type[BaseException] | None) -> bool:
    """Make thread `ident` raise exc_type at its next Python instruction (None: take back a pending one)."""
    count = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_type) if exc_type else None
    )
    if count > 1:  # never expected: undo rather than hit other threads
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
        return False
    return count == 1


class Job:
    """One task in a thread: its limits, and whether the pool may still raise in it."""

    def __init__(self, soft: float | None, hard: float | None, timeout_callback: Callable | None) -> None:
        self.soft, self.hard, self.timeout_callback = soft, hard, timeout_callback
        self.ident: int | None = None
        self.native_id: int | None = None
        self.started: float | None = None
        self.soft_sent = False
        # Set when the pool answered for the task (hard limit) or was told to stop it.
        self.stopped_at: float | None = None
        self.running = False  # between the task's start and end: exceptions may be raised in it
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.ident, self.native_id = threading.get_ident(), threading.get_native_id()
            self.started = time.monotonic()
            self.running = True

    def leave(self) -> None:
        """The task has ended: no exception may reach its thread any more, not even one already sent."""
        while True:
            try:
                with self.lock:
                    self.running = False
                    raise_in_thread(self.ident, None)
                return
            except BaseException:
                continue

    def raise_(self, exc_type: type[BaseException], again: bool = False) -> bool:
        """Raise exc_type in the task's thread (True if sent); again: only if it runs the task's own code now."""
        with self.lock:
            if not self.running or (again and not in_task_body(self.ident)):
                return False
            return raise_in_thread(self.ident, exc_type)

    def stop(self, now: float) -> bool:
        """Mark a running task as stopped by the pool (True the first time): its own answer is dropped."""
        with self.lock:
            if not self.running or self.stopped_at is not None:
                return False
            self.stopped_at = now
            return True


class ApplyResult(celery_thread.ApplyResult):
    """What Request keeps of a running task; terminate() is what Request.cancel calls on it."""

    def __init__(self, future, pool: ThreadPool, job: Job) -> None:
        super().__init__(future)
        self._pool, self._job = pool, job

    def terminate(self, signal: int | None = None) -> None:
        self._pool.stop_job(self._job, "terminated")


class ThreadPool(celery_thread.TaskPool):
    """Celery's thread pool with time limits, terminate_job and heartbeats while draining."""

    stop_grace = STOP_GRACE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The worker's task_soft_time_limit and task_time_limit (celery/worker/components.py).
        self.default_soft = self.options.get("soft_timeout")
        self.default_hard = self.options.get("timeout")
        self._jobs: dict[int, Job] = {}
        self._jobs_lock = threading.Lock()
        self._watching = threading.Event()
        self._watchdog: threading.Thread | None = None

    # --- running tasks ---------------------------------------------------------------------

    def on_start(self) -> None:
        super().on_start()
        self._watching.set()
        self._watchdog = threading.Thread(target=self._watch, name="celery-fleet-limits", daemon=True)
        self._watchdog.start()

    def on_apply(
        self,
        target: Callable,
        args: tuple | None = None,
        kwargs: dict | None = None,
        callback: Callable | None = None,
        accept_callback: Callable | None = None,
        timeout: float | None = None,
        soft_timeout: float | None = None,
        timeout_callback: Callable | None = None,
        **_: Any,
    ) -> ApplyResult:
        job = Job(soft_timeout or self.default_soft, timeout or self.default_hard, timeout_callback)

        def answer(result: Any) -> None:
            # A task the pool stopped has been answered for (or cancelled) already.
            if job.stopped_at is None and callback is not None:
                callback(result)

        def run() -> None:
            job.enter()
            with self._jobs_lock:
                self._jobs[job.native_id] = job
            try:
                # The thread's id stands for the pid: terminate_job gets it back.
                apply_target(self._bounded(target, job), args, kwargs, answer, accept_callback, pid=job.native_id)
            except Exception:  # a task the pool stopped between its end and its answer
                logger.exception("a task ended outside its body")
            finally:
                with self._jobs_lock:
                    self._jobs.pop(job.native_id, None)

        return ApplyResult(self.executor.submit(run), self, job)

    @staticmethod
    def _bounded(target: Callable, job: Job) -> Callable:
        def bounded(*args: Any, **kwargs: Any) -> Any:
            try:
                return target(*args, **kwargs)
            finally:
                job.leave()

        return bounded

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        with self._jobs_lock:
            job = self._jobs.get(pid)
        if job is not None:
            self.stop_job(job, "terminated")

    def stop_job(self, job: Job, why: str) -> None:
        first = job.stop(time.monotonic())
        if first:
            logger.warning("stopping the task in thread %s (%s)", job.native_id, why)
        job.raise_(Stopped, again=not first)

    # --- the watchdog ----------------------------------------------------------------------

    def _watch(self) -> None:
        while self._watching.is_set():
            now = time.monotonic()
            with self._jobs_lock:
                jobs = list(self._jobs.values())
            for job in jobs:
                try:
                    self._check(job, now)
                except Exception:  # the watchdog must outlive any one task
                    logger.exception("checking the limits of thread %s", job.native_id)
            time.sleep(TICK)

    def _check(self, job: Job, now: float) -> None:
        if not job.running or job.started is None:
            return
        elapsed = now - job.started
        if job.stopped_at is not None:
            if now - job.stopped_at > self.stop_grace:
                self._exit_stuck(job)
            job.raise_(Stopped, again=True)  # the first may have been caught
            return
        if job.hard and elapsed >= job.hard:
            # What prefork does at the hard limit: the task fails, its message is acknowledged
            # (unless it ended in the meantime, and answered for itself).
            if job.stop(now) and job.timeout_callback is not None:
                job.timeout_callback(False, job.hard)
            job.raise_(Stopped)
            return
        if job.soft and elapsed >= job.soft and not job.soft_sent:
            job.soft_sent = True
            if job.timeout_callback is not None:
                job.timeout_callback(True, job.soft)
            job.raise_(SoftTimeLimitExceeded)

    def _exit_stuck(self, job: Job) -> None:
        logger.critical(
            "the task in thread %s did not stop within %.0f s of its limit (blocked outside Python): "
            "ending this worker so that it runs no longer; its other tasks will be delivered again",
            job.native_id,
            self.stop_grace,
        )
        logging.shutdown()
        os._exit(EXIT_STUCK)

    # --- stopping --------------------------------------------------------------------------

    def on_stop(self) -> None:
        # Draining blocks the main thread: keep its timers (broker heartbeats) firing meanwhile,
        # or the broker drops the connection and delivers the running tasks again.
        from kombu.asynchronous import get_event_loop

        hub = get_event_loop()
        draining = threading.Event()

        def fire_timers() -> None:
            while not draining.wait(0.5):
                try:
                    hub.fire_timers()
                except Exception:
                    logger.warning("firing timers while draining", exc_info=True)

        if hub is not None:
            threading.Thread(target=fire_timers, name="celery-fleet-drain", daemon=True).start()
        try:
            super().on_stop()
        finally:
            draining.set()
            self._watching.clear()

    def _get_info(self) -> dict:
        info = super()._get_info()
        info["timeouts"] = (self.default_soft, self.default_hard)
        return info
