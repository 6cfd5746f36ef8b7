"""The workloads on the fleet and the baseline, and the tuning variants."""

import json
import os
from pathlib import Path

from baseline import BASELINE, client_baseline, start_baseline
from common import LOGS, WORK, log, run
from fleet import (
    client_fleet,
    converge,
    fleet_client,
    fleet_names,
    pool_processes_per_worker,
    remove_fleet,
    start_fleet,
)
from procs import Sampler, WorkerProfile, proc_stats


def workloads(size: int, inv: Path, args, out: dict) -> None:
    hub, workers = fleet_names(size)
    env = fleet_client(size, inv)
    nodes = client_fleet(env, "ping", "--nodes", str(size), "--timeout", "120")["nodes"]
    worker_cores = pool_processes_per_worker(size) * size
    log(f"fleet {size}: {len(nodes)} nodes answer, {worker_cores} pool processes; baseline container")
    start_baseline(WORK / f"fleet{size}" / "client" / "celeryconfig.py", args.baseline_concurrency)

    wk = ("celery-worker",)
    mem = {"idle": {}, "load": {}}
    for w in workers:
        mem["idle"][w] = proc_stats(w, wk)["rss_mib"]
    mem["idle"]["rabbitmq@hub"] = proc_stats(hub, ("rabbitmq",))["rss_mib"]
    mem["idle"]["baseline worker"] = proc_stats(BASELINE, (), "celery --app proj worker")["rss_mib"]
    mem["idle"]["baseline rabbitmq"] = proc_stats(BASELINE, ("rabbitmq",))["rss_mib"]
    out["memory"] = mem

    results = {}
    before = {w: proc_stats(w, wk)["cpu_s"] for w in workers} | {"hub": proc_stats(hub, ("rabbitmq",))["cpu_s"]}
    sampler = Sampler({w: (w, wk, "") for w in workers} | {"rabbitmq@hub": (hub, ("rabbitmq",), "")})
    sampler.start()
    log(f"fleet: {args.tasks} add tasks")
    results["fleet_add"] = client_fleet(env, "throughput", "--n", str(args.tasks))
    sampler.stop.set()
    sampler.join()
    mem["load"].update(sampler.peak)
    after = {w: proc_stats(w, wk)["cpu_s"] for w in workers} | {"hub": proc_stats(hub, ("rabbitmq",))["cpu_s"]}
    out["cpu_during_fleet_add_s"] = {
        "client (this machine)": round(results["fleet_add"]["client_cpu_s"], 1),
        "workers (all)": sum(after[w] - before[w] for w in workers),
        "rabbitmq (hub)": after["hub"] - before["hub"],
    }

    log("baseline: add tasks")
    base_before = proc_stats(BASELINE, (), "celery --app proj worker")["cpu_s"]
    base_rmq = proc_stats(BASELINE, ("rabbitmq",))["cpu_s"]
    sampler = Sampler(
        {
            "baseline worker": (BASELINE, (), "celery --app proj worker"),
            "baseline rabbitmq": (BASELINE, ("rabbitmq",), ""),
        }
    )
    sampler.start()
    results["baseline_add"] = client_baseline("throughput", "--n", str(args.tasks))
    sampler.stop.set()
    sampler.join()
    mem["load"].update(sampler.peak)
    out["cpu_during_baseline_add_s"] = {
        "client": round(results["baseline_add"]["client_cpu_s"], 1),
        "worker": proc_stats(BASELINE, (), "celery --app proj worker")["cpu_s"] - base_before,
        "rabbitmq": proc_stats(BASELINE, ("rabbitmq",))["cpu_s"] - base_rmq,
    }

    if args.cluster:
        # Measured as the three hubs will be: no memory sampler beside it.
        log("fleet: add tasks again, nothing sampled (against three hubs below)")
        results["fleet_add_unsampled"] = client_fleet(env, "throughput", "--n", str(args.tasks))

    clients = 2 * (os.cpu_count() or 2)
    log(f"add tasks from {clients} client processes: fleet, baseline")
    results["fleet_add_clients"] = client_fleet(env, "throughput", "--n", str(args.tasks), "--clients", str(clients))
    results["baseline_add_clients"] = client_baseline("throughput", "--n", str(args.tasks), "--clients", str(clients))

    log("latency: fleet, baseline")
    results["fleet_latency"] = client_fleet(env, "latency", "--n", str(args.calls))
    results["baseline_latency"] = client_baseline("latency", "--n", str(args.calls))
    log("map-reduce: fleet, baseline")
    results["fleet_wordcount"] = client_fleet(env, "wordcount", "--n", str(args.tasks))
    results["baseline_wordcount"] = client_baseline("wordcount", "--n", str(args.tasks))

    if args.submit_tasks:
        out["submission"] = submission(env, args.submit_tasks, results["fleet_add"])

    # Profiled apart: the profilers' own cost stays out of the figures above.
    log(f"profiles of a fleet add run: client (cProfile), {workers[0]} (py-spy)")
    spy = WorkerProfile(workers[0], LOGS / "worker-profile.txt")
    prof = client_fleet(
        env, "throughput", "--n", str(args.profile_tasks), "--profile", str(LOGS / "client-profile.txt")
    )
    out["worker_profile"] = spy.finish()
    out["client_profile"] = prof

    fleet_cores = worker_cores
    base_cores = args.baseline_concurrency
    out["fleet"] = {"workers": size, "pool_processes": fleet_cores, "nodes": nodes}
    out["baseline"] = {"pool_processes": base_cores}
    results["ratios"] = {
        "add_tps": results["fleet_add"]["tasks_per_s"] / results["baseline_add"]["tasks_per_s"],
        "add_tps_per_pool_process": (results["fleet_add"]["tasks_per_s"] / fleet_cores)
        / (results["baseline_add"]["tasks_per_s"] / base_cores),
        "add_clients_tps": results["fleet_add_clients"]["tasks_per_s"] / results["baseline_add_clients"]["tasks_per_s"],
        "add_clients_tps_per_pool_process": (results["fleet_add_clients"]["tasks_per_s"] / fleet_cores)
        / (results["baseline_add_clients"]["tasks_per_s"] / base_cores),
        "wordcount_ips": results["fleet_wordcount"]["items_per_s"] / results["baseline_wordcount"]["items_per_s"],
        "latency_p50": results["fleet_latency"]["p50_ms"] / results["baseline_latency"]["p50_ms"],
        "latency_p99": results["fleet_latency"]["p99_ms"] / results["baseline_latency"]["p99_ms"],
    }
    out["workloads"] = results

    if args.tuning:
        out["tuning"] = tuning(inv, env, args)

    if args.recovery:
        log("recovery: kill a worker container with late-acked sleep tasks in flight")
        per_worker = worker_cores // size
        rec = client_fleet(
            env,
            "recovery",
            "--n",
            str(2 * per_worker),
            "--seconds",
            "10",
            "--kill-after",
            "3",
            "--kill",
            f"docker kill {workers[-1]}",
        )
        rec["killed"] = workers[-1]
        out["recovery"] = rec
        run(["docker", "start", workers[-1]], check=False)


def submission(env: dict, n: int, plain: dict) -> list[dict]:
    """A large batch of add sent through celery_fleet_submit (each message confirmed), against the plain
    apply_async loop of the add run above (same run): time to submit, time until every result is back."""
    clients = str(2 * (os.cpu_count() or 2))
    rows = [{"variant": f"apply_async loop, {plain['tasks']} tasks (the baseline)", **plain}]
    for name, extra in (
        ("celery_fleet_submit, 1 process", []),
        (f"celery_fleet_submit, {clients} processes", ["--clients", clients]),
        ("celery_fleet_submit, chunks of 100 adds per message", ["--chunk", "100"]),
    ):
        log(f"submission: {n} add, {name}")
        res = client_fleet(env, "throughput", "--n", str(n), "--pipelined", *extra, timeout=3600)
        rows.append({"variant": name, **res})
        log(f"submission: submitted in {res['submit_s']:.1f}s, all done in {res['total_s']:.0f}s")
    for row in rows:
        row["submit_ratio"] = row["submitted_per_s"] / plain["submitted_per_s"]
    return rows


def tuning(inv: Path, env: dict, args) -> list[dict]:
    """Throughput of add with other settings, each against the defaults, same run.

    The defaults are measured again first, in the same conditions as the
    variants (no memory sampler, no profiler).

    Client variants change only the sender; worker variants redeploy the
    workers with workers.yml (restart through the handler) and go back after.
    """
    clients = str(2 * (os.cpu_count() or 2))
    client_variants = [
        ("client: publisher confirms off", ["--no-confirm"]),
        ("client: gzip task compression", ["--compression", "gzip"]),
        (f"client: {clients} processes, confirms off", ["--clients", clients, "--no-confirm"]),
        ("client: chunks of 100 adds per message", ["--chunk", "100"]),
    ]
    prefetch4, early = {"celery_worker_prefetch_multiplier": 4}, {"celery_worker_acks_late": False}
    worker_variants = [
        ("workers: prefetch 4 (late acks kept)", prefetch4),
        ("workers: early acks (prefetch 1)", early),
        ("workers: prefetch 4 and early acks", prefetch4 | early),
        ("workers: publisher confirms off", {"fleet_broker_confirm_publish": False}),
    ]
    # Monitoring on (fleet_monitoring): Flower, Prometheus and the exporters on
    # the hub, task events from the workers; site.yml installs it, and removes
    # it after the measurement.
    monitoring = {"fleet_monitoring": True, "fleet_flower_password": "bench-flower-login-password"}
    rows = []
    default_tps = client_fleet(env, "throughput", "--n", str(args.tasks))["tasks_per_s"]
    log(f"tuning: defaults: {default_tps:.0f} tasks/s")
    rows.append(
        {"variant": "defaults (measured again)", "settings": {}, "tasks_per_s": default_tps, "ratio_to_default": 1.0}
    )

    def measure(name: str, settings, extra: list[str]) -> None:
        res = client_fleet(env, "throughput", "--n", str(args.tasks), *extra)
        rows.append(
            {
                "variant": name,
                "settings": settings,
                "tasks_per_s": res["tasks_per_s"],
                "ratio_to_default": res["tasks_per_s"] / default_tps,
            }
        )
        log(f"tuning: {name}: {res['tasks_per_s']:.0f} tasks/s ({res['tasks_per_s'] / default_tps:.2f}x)")

    for name, extra in client_variants:
        measure(name, " ".join(extra), extra)
    for name, settings in worker_variants:
        run(
            ["ansible-playbook", "-i", str(inv), "workers.yml", "-e", json.dumps(settings)],
            timeout=900,
            logfile="tuning-deploy.log",
        )
        measure(name, settings, [])
    log("tuning: back to the defaults")
    run(["ansible-playbook", "-i", str(inv), "workers.yml"], timeout=900, logfile="tuning-restore.log")
    run(
        ["ansible-playbook", "-i", str(inv), "site.yml", "-e", json.dumps(monitoring)],
        timeout=1800,
        logfile="tuning-monitoring.log",
    )
    measure("fleet: monitoring on (Flower, Prometheus, task events)", {"fleet_monitoring": True}, [])
    log("tuning: monitoring off again")
    run(["ansible-playbook", "-i", str(inv), "site.yml"], timeout=1800, logfile="tuning-monitoring-off.log")
    return rows


def cluster(size: int, args, out: dict) -> dict:
    """The same fleet with three hubs as one RabbitMQ cluster (every task queue a quorum queue replicated on
    three nodes), against the one hub measured above: converge, add throughput, round trips."""
    remove_fleet(size, 3)
    log(f"cluster {size}: start 3 hubs and {size} workers")
    inv = start_fleet(size, 3)
    try:
        result = converge(size, inv, hubs=3)
        env = fleet_client(size, inv, hubs=3)
        client_fleet(env, "ping", "--nodes", str(size), "--timeout", "180")
        clients = str(2 * (os.cpu_count() or 2))
        log(f"cluster {size}: {args.tasks} add tasks, then from {clients} processes, then round trips")
        result["add"] = client_fleet(env, "throughput", "--n", str(args.tasks))
        result["add_clients"] = client_fleet(env, "throughput", "--n", str(args.tasks), "--clients", clients)
        result["latency"] = client_fleet(env, "latency", "--n", str(args.calls))
    finally:
        if not args.keep:
            remove_fleet(size, 3)
    single = out["workloads"]
    one_hub = next(c for c in out["converge"] if c["workers"] == size)
    result["ratios"] = {
        "fresh": result["fresh"]["wall_s"] / one_hub["fresh"]["wall_s"],
        "reconverge": result["reconverge"]["wall_s"] / one_hub["reconverge"]["wall_s"],
        "add_tps": result["add"]["tasks_per_s"] / single["fleet_add_unsampled"]["tasks_per_s"],
        "add_clients_tps": result["add_clients"]["tasks_per_s"] / single["fleet_add_clients"]["tasks_per_s"],
        "latency_p50": result["latency"]["p50_ms"] / single["fleet_latency"]["p50_ms"],
        "latency_p99": result["latency"]["p99_ms"] / single["fleet_latency"]["p99_ms"],
    }
    log(f"cluster {size}: add {result['add']['tasks_per_s']:.0f} tasks/s ({result['ratios']['add_tps']:.2f}x one hub)")
    return result
