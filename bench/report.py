"""The report: the machine's description, the results table and the plot."""

import os
import platform
from pathlib import Path


def machine() -> dict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
    return {
        "host": platform.node(),
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "load_at_start": os.getloadavg(),
    }


def table(out: dict) -> str:
    lines = [
        f"celery-fleet benchmark, {out['date']}, {out['machine']['cpu']} x{out['machine']['cores']}, "
        f"{out['machine']['mem_gib']} GiB, load at start {out['machine']['load_at_start'][0]:.1f}",
        "",
    ]
    conv = out.get("converge", [])
    if conv:
        base = next((c for c in conv if c["workers"] == min(x["workers"] for x in conv)), None)
        lines += [
            "| converge | " + " | ".join(f"{c['workers']} workers" for c in conv) + " |",
            "|---|" + "---|" * len(conv),
        ]
        for key, label in (
            ("fresh", "first site.yml"),
            ("reconverge", "site.yml, nothing to change"),
            ("restart", "workers.yml --tags restart (rolling, 25% a batch)"),
            ("deploy", "workers.yml, a new app version (rolling)"),
        ):
            if not all(key in c for c in conv):
                continue
            cells = []
            for c in conv:
                ratio = c[key]["wall_s"] / base[key]["wall_s"]
                cells.append(f"{c[key]['wall_s']:.0f} s ({ratio:.2f}x)")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        cells = [f"{c['reconverge']['wall_s'] / c['fresh']['wall_s']:.2f}x" for c in conv]
        lines.append("| nothing to change, against the first | " + " | ".join(cells) + " |")
        if all(c["fresh"].get("fleet_cpu_s") is not None for c in conv):
            cells = [
                f"{c['fresh']['controller_cpu_s'] + c['fresh']['fleet_cpu_s']:.0f} s "
                f"({c['fresh']['controller_cpu_s']:.0f} + {c['fresh']['fleet_cpu_s']:.0f})"
                for c in conv
            ]
            lines.append("| CPU of the first site.yml (controller + containers) | " + " | ".join(cells) + " |")
            cores = out["machine"]["cores"]
            cells = [f"{(c['fresh']['controller_cpu_s'] + c['fresh']['fleet_cpu_s']) / cores:.0f} s" for c in conv]
            lines.append(f"| the same over {cores} cores: the least wall time here | " + " | ".join(cells) + " |")
            lines += cpu_per_added_worker(conv, base)
        lines.append("")
    wl = out.get("workloads")
    if wl:
        r = wl["ratios"]
        fp, bp = out["fleet"]["pool_processes"], out["baseline"]["pool_processes"]
        lines += [
            f"| workload | fleet ({out['fleet']['workers']} workers, {fp} processes, TLS) "
            f"| baseline (1 host, {bp} processes, loopback) | ratio |",
            "|---|---|---|---|",
            f"| {wl['fleet_add']['tasks']} add: tasks/s | {wl['fleet_add']['tasks_per_s']:.0f} "
            f"| {wl['baseline_add']['tasks_per_s']:.0f} | {r['add_tps']:.2f}x |",
            f"| add: tasks/s per pool process | {wl['fleet_add']['tasks_per_s'] / fp:.0f} "
            f"| {wl['baseline_add']['tasks_per_s'] / bp:.0f} | {r['add_tps_per_pool_process']:.2f}x |",
        ]
        if "fleet_add_clients" in wl:
            nc = wl["fleet_add_clients"]["clients"]
            lines += [
                f"| {wl['fleet_add']['tasks']} add from {nc} client processes: tasks/s "
                f"| {wl['fleet_add_clients']['tasks_per_s']:.0f} | {wl['baseline_add_clients']['tasks_per_s']:.0f} "
                f"| {r['add_clients_tps']:.2f}x |",
                f"| the same, per pool process | {wl['fleet_add_clients']['tasks_per_s'] / fp:.0f} "
                f"| {wl['baseline_add_clients']['tasks_per_s'] / bp:.0f} "
                f"| {r['add_clients_tps_per_pool_process']:.2f}x |",
            ]
        lines += [
            f"| map-reduce {wl['fleet_wordcount']['items']} texts: items/s "
            f"| {wl['fleet_wordcount']['items_per_s']:.0f} "
            f"| {wl['baseline_wordcount']['items_per_s']:.0f} | {r['wordcount_ips']:.2f}x |",
            f"| add.delay(2, 3).get() p50 | {wl['fleet_latency']['p50_ms']:.1f} ms "
            f"| {wl['baseline_latency']['p50_ms']:.1f} ms | {r['latency_p50']:.2f}x |",
            f"| add.delay(2, 3).get() p99 | {wl['fleet_latency']['p99_ms']:.1f} ms "
            f"| {wl['baseline_latency']['p99_ms']:.1f} ms | {r['latency_p99']:.2f}x |",
            "",
        ]
    cl = out.get("cluster")
    if cl:
        r, wl = cl["ratios"], out["workloads"]
        one = next(c for c in out["converge"] if c["workers"] == cl["workers"])
        lines += [
            f"| {cl['workers']} workers, quorum queues | one hub | three hubs (one cluster) | ratio |",
            "|---|---|---|---|",
            f"| first site.yml | {one['fresh']['wall_s']:.0f} s | {cl['fresh']['wall_s']:.0f} s | {r['fresh']:.2f}x |",
            f"| site.yml, nothing to change | {one['reconverge']['wall_s']:.0f} s "
            f"| {cl['reconverge']['wall_s']:.0f} s | {r['reconverge']:.2f}x |",
            f"| {cl['add']['tasks']} add, one client: tasks/s | {wl['fleet_add_unsampled']['tasks_per_s']:.0f} "
            f"| {cl['add']['tasks_per_s']:.0f} | {r['add_tps']:.2f}x |",
            f"| the same from {cl['add_clients']['clients']} client processes "
            f"| {wl['fleet_add_clients']['tasks_per_s']:.0f} | {cl['add_clients']['tasks_per_s']:.0f} "
            f"| {r['add_clients_tps']:.2f}x |",
            f"| add.delay(2, 3).get() p50 | {wl['fleet_latency']['p50_ms']:.1f} ms "
            f"| {cl['latency']['p50_ms']:.1f} ms | {r['latency_p50']:.2f}x |",
            f"| add.delay(2, 3).get() p99 | {wl['fleet_latency']['p99_ms']:.1f} ms "
            f"| {cl['latency']['p99_ms']:.1f} ms | {r['latency_p99']:.2f}x |",
            "",
        ]
    if out.get("memory"):
        lines += ["| RSS (MiB) | idle | under add load |", "|---|---|---|"]
        for key, idle in out["memory"]["idle"].items():
            load = out["memory"]["load"].get(key)
            lines.append(f"| {key} | {idle:.0f} | {load:.0f} |" if load is not None else f"| {key} | {idle:.0f} | |")
        lines.append("")
    if out.get("cpu_during_fleet_add_s"):
        cpu = out["cpu_during_fleet_add_s"]
        lines.append("CPU seconds during the fleet add run: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
        cpu = out.get("cpu_during_baseline_add_s", {})
        lines.append("CPU seconds during the baseline add run: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
        lines.append("")
    if out.get("submission"):
        lines += [
            "| large batch of add, each message confirmed | tasks | submitted in | submitted/s (ratio) | all done in |",
            "|---|---|---|---|---|",
        ]
        for row in out["submission"]:
            lines.append(
                f"| {row['variant']} | {row['tasks']} | {row['submit_s']:.1f} s "
                f"| {row['submitted_per_s']:.0f} ({row['submit_ratio']:.2f}x) | {row['total_s']:.0f} s |"
            )
        lines.append("")
    if out.get("tuning"):
        n = out["workloads"]["fleet_add"]["tasks"]
        lines += [f"| {n} add on the fleet, one setting changed | tasks/s | ratio to the defaults |", "|---|---|---|"]
        for row in out["tuning"]:
            lines.append(f"| {row['variant']} | {row['tasks_per_s']:.0f} | {row['ratio_to_default']:.2f}x |")
        lines.append("")
    spy = out.get("worker_profile")
    if spy and spy.get("top_own"):
        lines.append(
            f"Where a worker's Python time goes (py-spy --gil, {spy['samples']} samples of its Celery processes, "
            "own time):"
        )
        lines += [f"  {t['share'] * 100:5.1f} %  {t['function']}" for t in spy["top_own"]]
        lines.append("")
    elif spy:
        lines.append(f"Worker profile not measured: {spy.get('error')}")
    prof = out.get("client_profile", {}).get("profile_top_tottime")
    if prof:
        lines.append("Where the client's time goes (cProfile, own time):")
        lines += [f"  {t['tottime_s']:6.2f} s  {t['function']}" for t in prof[:6]]
        lines.append("")
    if out.get("recovery"):
        rec = out["recovery"]
        lines.append(
            f"Recovery: docker kill {rec['killed']} with {rec['tasks']} sleep({rec['task_seconds']:.0f}) "
            f"tasks in flight; last one done {rec['kill_to_last_done_s']:.1f} s after the kill"
        )
    if out.get("skipped"):
        lines.append("Not measured: " + "; ".join(out["skipped"]))
    for c in conv:
        lines += ["", f"Ten slowest tasks of the first site.yml, {c['workers']} workers:"]
        lines += [f"  {t['s']:7.2f} s  {t['task']}" for t in c["fresh"]["slowest"]]
    return "\n".join(lines)


def cpu_per_added_worker(conv: list[dict], base: dict) -> list[str]:
    """CPU seconds (controller + containers) each worker beyond the smallest fleet adds, first and no-op converge."""
    rows = []
    for key, label in (("fresh", "first site.yml"), ("reconverge", "nothing to change")):
        if any(c[key].get("fleet_cpu_s") is None for c in conv):
            continue

        def cpu(c: dict, key: str = key) -> float:
            return c[key]["controller_cpu_s"] + c[key]["fleet_cpu_s"]

        cells = [
            f"{(cpu(c) - cpu(base)) / (c['workers'] - base['workers']):.1f} s" if c is not base else "-" for c in conv
        ]
        rows.append(f"| CPU per added worker, {label} | " + " | ".join(cells) + " |")
    return rows


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    conv = out.get("converge", [])
    if conv:
        sizes = [c["workers"] for c in conv]
        for key, label in (("fresh", "first site.yml"), ("reconverge", "re-converge"), ("restart", "rolling restart")):
            axes[0].plot(sizes, [c[key]["wall_s"] for c in conv], marker="o", label=label)
        axes[0].set(
            xlabel="worker containers", ylabel="wall time (s)", title="Converge time vs fleet size", xticks=sizes
        )
        axes[0].legend()
    wl = out.get("workloads")
    if wl:
        labels = ["add tasks/s", "map-reduce items/s"]
        fleet = [wl["fleet_add"]["tasks_per_s"], wl["fleet_wordcount"]["items_per_s"]]
        base = [wl["baseline_add"]["tasks_per_s"], wl["baseline_wordcount"]["items_per_s"]]
        xs = range(len(labels))
        axes[1].bar([x - 0.2 for x in xs], fleet, 0.4, label="fleet (TLS, network)")
        axes[1].bar([x + 0.2 for x in xs], base, 0.4, label="baseline (1 host, loopback)")
        axes[1].set(xticks=list(xs), xticklabels=labels, title="Throughput (same run)")
        axes[1].legend()
        lat = ["p50", "p99"]
        axes[2].bar([-0.2, 0.8], [wl["fleet_latency"]["p50_ms"], wl["fleet_latency"]["p99_ms"]], 0.4, label="fleet")
        axes[2].bar(
            [0.2, 1.2], [wl["baseline_latency"]["p50_ms"], wl["baseline_latency"]["p99_ms"]], 0.4, label="baseline"
        )
        axes[2].set(xticks=[0, 1], xticklabels=lat, ylabel="ms", title="add.delay(2, 3).get() round trip")
        axes[2].legend()
    fig.suptitle(f"celery-fleet benchmark {out['date']} ({out['machine']['cores']} cores, shared machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
