"""The benchmark's client: sends tasks of the hello-celery app and times them.

Runs wherever the app runs (the operator's machine against the fleet, or
inside the single-host baseline container), with ``proj`` and a
``celeryconfig`` module on PYTHONPATH. Prints one JSON object.

    python client.py ping --nodes 2
    python client.py throughput --n 10000 [--clients 4] [--no-confirm] [--compression gzip] [--chunk 100]
                                        [--pipelined] [--profile FILE]
    python client.py wordcount --n 10000
    python client.py latency --n 500
    python client.py recovery --n 4 --seconds 10 --kill-after 3 --kill "docker kill X"
"""

import argparse
import cProfile
import io
import json
import multiprocessing
import pstats
import shlex
import statistics
import subprocess
import sys
import time

from celery.result import ResultSet
from kombu.exceptions import OperationalError

from proj import wordcount
from proj.celery import app
from proj.tasks import add, sleep, word_count

_WORDS = "the quick brown fox jumps over a lazy dog while celery workers count words".split()


def _ping(nodes: int, timeout: float) -> dict:
    """Wait until at least `nodes` worker nodes answer a ping."""
    deadline = time.monotonic() + timeout
    answered: list = []
    while time.monotonic() < deadline:
        try:
            answered = app.control.ping(timeout=1.0) or []
        except OperationalError:  # the broker is not listening yet
            answered = []
        if len(answered) >= nodes:
            return {"nodes": sorted(next(iter(a)) for a in answered)}
        time.sleep(1)
    raise SystemExit(f"only {len(answered)} of {nodes} worker nodes answered within {timeout}s")


def _client_settings(confirm: bool, compression: str) -> None:
    """Client-side variants of the operator's settings (the workers are unchanged)."""
    if not confirm:
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "confirm_publish": False}
    if compression:
        app.conf.task_compression = compression


def _send_and_collect(
    first: int, count: int, confirm: bool = True, compression: str = "", chunk: int = 1, pipelined: bool = False
) -> tuple:
    """Send add(i, i) for i in [first, first + count), collect and check.

    chunk > 1 sends Celery chunks: one message (and one task) per `chunk`
    adds. pipelined: through celery_fleet_submit (the controller role's module
    beside the settings): confirms read as they come instead of one round trip
    each. Returns the client's CPU seconds, the wall-clock start, the time
    the last message was sent (and, with confirms, confirmed) and the end.
    """
    _client_settings(confirm, compression)
    cpu = time.process_time()
    start = time.time()
    pairs = ((i, i) for i in range(first, first + count))
    signatures = add.chunks(list(pairs), chunk).group().tasks if chunk > 1 else [add.s(*pair) for pair in pairs]
    if pipelined:
        from celery_fleet_submit import submit

        results = submit(signatures)
    else:
        results = [signature.apply_async() for signature in signatures]
    submitted = time.time()
    values = ResultSet(results).get(timeout=1800)
    if chunk > 1:
        values = [v for part in values for v in part]
    if values != [2 * i for i in range(first, first + count)]:
        raise SystemExit("throughput: wrong or missing results")
    return time.process_time() - cpu, start, submitted, time.time()


def _throughput(
    n: int, clients: int = 1, confirm: bool = True, compression: str = "", chunk: int = 1, pipelined: bool = False
) -> dict:
    """Send n add tasks from `clients` processes, then collect every result.

    The time runs from the first send to the last result, without the
    processes' start; submit_s to the last message sent (confirmed).
    """
    if clients == 1:
        parts = [_send_and_collect(0, n, confirm, compression, chunk, pipelined)]
    else:
        # spawn: each process opens its own broker connection and reply queue.
        share = -(-n // clients)
        args = [(k * share, min(share, n - k * share), confirm, compression, chunk, pipelined) for k in range(clients)]
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            parts = pool.starmap(_send_and_collect, args)
    cpu = sum(p[0] for p in parts)
    start, submitted, done = min(p[1] for p in parts), max(p[2] for p in parts), max(p[3] for p in parts)
    return {
        "tasks": n,
        "clients": clients,
        "confirm_publish": confirm,
        "compression": compression or None,
        "chunk": chunk,
        "pipelined": pipelined,
        "submit_s": submitted - start,
        "submitted_per_s": n / (submitted - start),
        "total_s": done - start,
        "tasks_per_s": n / (done - start),
        "client_cpu_s": cpu,
    }


def _wordcount(n: int) -> dict:
    """Map-reduce over n short texts (one count_words task each)."""
    texts = [" ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(12)) for i in range(n)]
    expected = wordcount.merge_counts(wordcount.count_words(t) for t in texts)
    start = time.perf_counter()
    counts = word_count(texts, timeout=900)
    elapsed = time.perf_counter() - start
    if counts != expected:
        raise SystemExit("wordcount: wrong result")
    return {"items": n, "total_s": elapsed, "items_per_s": n / elapsed}


def _latency(n: int) -> dict:
    """Round trip of add.delay(2, 3).get(), one call at a time."""
    for _ in range(10):  # warm up the connection and the reply queue
        add.delay(2, 3).get(timeout=30)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        if add.delay(2, 3).get(timeout=30) != 5:
            raise SystemExit("latency: wrong result")
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return {
        "calls": n,
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(n - 1, round(0.99 * n) - 1)],
        "mean_ms": statistics.fmean(samples),
        "max_ms": samples[-1],
    }


def _recovery(n: int, seconds: float, kill_after: float, kill_cmd: list[str]) -> dict:
    """Start n sleep tasks, kill a worker, time until the last one is done."""
    results = [sleep.delay(seconds) for _ in range(n)]
    time.sleep(kill_after)
    killed_at = time.perf_counter()
    subprocess.run(kill_cmd, check=True, capture_output=True, timeout=60)
    values = ResultSet(results).get(timeout=600)
    last = time.perf_counter()
    return {
        "tasks": n,
        "task_seconds": seconds,
        "kill_to_last_done_s": last - killed_at,
        "hosts": sorted({v["hostname"] for v in values}),
    }


def _profiled(func, path: str, *args) -> dict:
    """Run func under cProfile; write the top functions to path as text."""
    profile = cProfile.Profile()
    result = profile.runcall(func, *args)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("tottime")
    stats.print_stats(15)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(out.getvalue())
    top = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(
        stats.stats.items(), key=lambda item: -item[1][2]
    )[:12]:
        top.append(
            {
                "function": f"{file.rsplit('/', 2)[-1]}:{line}({name})",
                "calls": calls,
                "tottime_s": tottime,
                "cumtime_s": cumtime,
            }
        )
    result["profile_top_tottime"] = top
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["ping", "throughput", "wordcount", "latency", "recovery"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kill-after", type=float, default=3.0)
    parser.add_argument("--profile", default="")
    parser.add_argument("--clients", type=int, default=1, help="client processes (throughput)")
    parser.add_argument("--no-confirm", dest="confirm", action="store_false", help="publisher confirms off")
    parser.add_argument("--compression", default="", help="task_compression on the client, e.g. gzip")
    parser.add_argument("--chunk", type=int, default=1, help="adds per message (Celery chunks)")
    parser.add_argument("--pipelined", action="store_true", help="send through celery_fleet_submit")
    parser.add_argument("--kill", default="", help="the command that kills a worker (recovery)")
    args = parser.parse_args()

    if args.mode == "ping":
        result = _ping(args.nodes, args.timeout)
    elif args.mode == "throughput":
        variant = (args.n, args.clients, args.confirm, args.compression, args.chunk, args.pipelined)
        result = _profiled(_throughput, args.profile, *variant) if args.profile else _throughput(*variant)
    elif args.mode == "wordcount":
        result = _wordcount(args.n)
    elif args.mode == "latency":
        result = _latency(args.n)
    else:
        result = _recovery(args.n, args.seconds, args.kill_after, shlex.split(args.kill))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
