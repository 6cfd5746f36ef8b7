"""celery-fleet benchmark: converge speed and what the fleet then moves.

Every fleet figure is measured in the same run as its baseline and reported
as a ratio; absolute times are printed, never asserted. Run by bench/run.sh.

Containers, networks and files it makes are named bench-*/bench/work/ and
removed at the end (bench/work/ keeps the logs).
"""

import argparse
import datetime
import json
import os
import subprocess
import time
from pathlib import Path

from baseline import BASELINE
from common import LOGS, RESULTS, WORK, log, run
from fleet import SETTINGS, converge, remove_fleet, slowest_tasks, start_fleet, use_mitogen
from report import machine, plot, table
from workloads import cluster, workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2,4,8", help="worker counts to converge (the first runs the workloads)")
    parser.add_argument("--tasks", type=int, default=10000, help="add tasks and map-reduce texts")
    parser.add_argument("--calls", type=int, default=500, help="latency round trips")
    parser.add_argument("--submit-tasks", type=int, default=100000, help="the large batch (0: not measured)")
    parser.add_argument("--profile-tasks", type=int, default=5000, help="add tasks of the profiled run")
    parser.add_argument("--baseline-concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-tuning", dest="tuning", action="store_false")
    parser.add_argument("--no-recovery", dest="recovery", action="store_false")
    parser.add_argument("--no-workloads", dest="workloads", action="store_false", help="converge figures only")
    parser.add_argument("--budget-min", type=float, default=30.0, help="skip further fleet sizes past this")
    parser.add_argument("--keep", action="store_true", help="leave the fleet containers running (debugging)")
    parser.add_argument("--reuse", action="store_true", help="workloads on a fleet left by --keep, no converge")
    parser.add_argument("--debian", default="12", choices=["12", "13"], help="the fleet's Debian release")
    parser.add_argument(
        "--cluster", action="store_true", help="then the first size with three hubs (quorum queues on 3 nodes)"
    )
    parser.add_argument("--mitogen", action="store_true", help="converge with Mitogen's strategy (a variant)")
    parser.add_argument("--label", default="", help="results file name: <date>-<label> (keeps earlier runs)")
    parser.add_argument("--report", default="", help="only print the table and plot of a results JSON")
    args = parser.parse_args()

    if args.report:
        out = json.loads(Path(args.report).read_text(encoding="utf-8"))
        for conv in out.get("converge", []):
            fresh_log = LOGS / f"fleet{conv['workers']}-site-fresh.log"
            if fresh_log.exists():
                conv["fresh"]["slowest"] = slowest_tasks(
                    fresh_log.read_text(encoding="utf-8").split("PLAY RECAP", 1)[-1]
                )
        print(table(out))
        plot(out, Path(args.report).with_suffix(".png"))
        return

    if args.mitogen:
        use_mitogen()
    if args.cluster and not args.workloads:
        parser.error("--cluster compares with the one hub's workloads: drop --no-workloads")
    SETTINGS["debian"] = args.debian
    LOGS.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    today = datetime.date.today().isoformat()
    stem = f"{today}-{args.label}" if args.label else today
    out: dict = {"date": today, "machine": machine(), "args": vars(args), "converge": [], "skipped": []}
    sizes = [int(s) for s in args.sizes.split(",")]
    try:
        for index, size in enumerate(sizes):
            elapsed_min = (time.monotonic() - started) / 60
            if index and elapsed_min > args.budget_min * 0.6:
                out["skipped"].append(f"converge with {size} workers (budget: {elapsed_min:.0f} min used)")
                continue
            if args.reuse:
                inv = WORK / f"fleet{size}" / "inventory"
            else:
                remove_fleet(size)
                log(f"fleet {size}: start {size + 1} containers")
                inv = start_fleet(size)
            try:
                if not args.reuse:
                    out["converge"].append(converge(size, inv))
                if index == 0 and args.workloads:
                    try:
                        workloads(size, inv, args, out)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as err:
                        # Keep the converge figures; say plainly what did not run.
                        out["skipped"].append(f"workloads ({str(err)[:300]})")
                        log(f"workloads failed: {err}")
            finally:
                if not args.keep:
                    remove_fleet(size)
        if args.cluster and "workloads" in out:
            out["cluster"] = cluster(sizes[0], args, out)
    finally:
        run(["docker", "rm", "-f", BASELINE], check=False)
        out["machine"]["load_at_end"] = os.getloadavg()
        out["total_min"] = (time.monotonic() - started) / 60
        (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    text = table(out)
    (RESULTS / f"{stem}.md").write_text(text + "\n", encoding="utf-8")
    plot(out, RESULTS / f"{stem}.png")
    print(text)
    print(
        f"\nTotal {out['total_min']:.1f} min. Results: bench/results/{stem}.json, .md, .png; logs in bench/work/logs/"
    )


if __name__ == "__main__":
    main()
