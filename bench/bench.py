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
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "work"
LOGS = WORK / "logs"
RESULTS = BENCH / "results"
IMAGE = "celery-fleet/debian:12"
BASELINE = "bench-single"
# systemd as PID 1 without --privileged (see molecule/_platform/README.md).
SYSTEMD_RUN_ARGS = [
    "--cap-add",
    "SYS_ADMIN",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--cgroupns",
    "host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    # Docker's CLI mounts a tmpfs noexec by default; apt's gpgv runs from /tmp.
    "--tmpfs",
    "/run:rw,exec",
    "--tmpfs",
    "/run/lock",
    "--tmpfs",
    "/tmp:rw,exec",
    "--stop-signal",
    "SIGRTMIN+3",
]
PROFILE_LINE = re.compile(r"^(?P<task>.+?)\s-{2,}\s+(?P<secs>[0-9.]+)s\s*$")


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def run(cmd: list[str], *, timeout: float = 600, check: bool = True, env: dict | None = None, logfile: str = ""):
    """Run a command from the repo root; keep its output in bench/work/logs."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    if logfile:
        (LOGS / logfile).write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed ({proc.returncode}):\n{tail}")
    return proc


# --- Converge ---------------------------------------------------------------------


def fleet_names(size: int) -> tuple[str, list[str]]:
    return f"bench-f{size}-hub", [f"bench-f{size}-worker{i}" for i in range(1, size + 1)]


def fleet_port(size: int) -> int:
    return 25600 + size


def pool_processes_per_worker(size: int) -> int:
    """The fleet's workers share this machine's cores: as many pool processes in all as the baseline has."""
    return max(1, (os.cpu_count() or 2) // size)


def make_inventory(size: int) -> Path:
    """The lab's inventory with `size` workers, its own network and secrets.

    Only the inventory goes in fleetN/inventory: Ansible reads every other
    file of an inventory folder as an inventory source (the CA key too).
    """
    state = WORK / f"fleet{size}"
    shutil.rmtree(state, ignore_errors=True)
    inv = state / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    hub, workers = fleet_names(size)
    hosts = {
        "all": {
            "children": {
                "hub": {"hosts": {hub: {"lab_published_ports": [f"127.0.0.1:{fleet_port(size)}:5671"]}}},
                "workers": {"hosts": {w: None for w in workers}},
            }
        }
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")
    lab_vars = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/main.yml").read_text(encoding="utf-8"))
    subnet = f"10.213.{100 + size}"
    lab_vars.update(
        {
            "lab_network_subnet": f"{subnet}.0/24",
            "fleet_operator_sources": [f"{subnet}.1"],
            "tls_controller_dir": str(state / "pki"),
            "lab_secrets_dir": str(state / "secrets"),
            # Each fleet size builds its own virtualenv once, as a new fleet would.
            "celery_worker_venv_cache_dir": str(state / "venv-cache"),
            # The workers share this machine's cores: as many pool processes
            # in the whole fleet as the baseline has, so that a ratio per
            # process compares like with like.
            "celery_worker_concurrency": pool_processes_per_worker(size),
        }
    )
    (inv / "group_vars/all/main.yml").write_text(yaml.safe_dump(lab_vars, sort_keys=False), encoding="utf-8")
    return inv


def start_fleet(size: int) -> Path:
    inv = make_inventory(size)
    run(
        [
            "ansible-playbook",
            "-i",
            str(inv),
            "molecule/_platform/lab.yml",
            "-e",
            f"platform_network=bench-fleet{size}",
            "-e",
            "platform_label=bench",
        ],
        timeout=600,
        logfile=f"fleet{size}-start.log",
    )
    return inv


def remove_fleet(size: int) -> None:
    hub, workers = fleet_names(size)
    run(["docker", "rm", "-f", hub, *workers], check=False, timeout=300)
    run(["docker", "network", "rm", f"bench-fleet{size}"], check=False, timeout=60)


def container_cpu_s(containers: list[str]) -> float | None:
    """CPU seconds the containers have used so far (their cgroups, v1 or v2)."""
    total = 0.0
    for name in containers:
        cid = run(["docker", "inspect", "-f", "{{.Id}}", name], check=False).stdout.strip()
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        v2 = [
            Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"),
            Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat"),
        ]
        if cid and v1.exists():
            total += int(v1.read_text(encoding="utf-8")) / 1e9
            continue
        stat = next((p for p in v2 if cid and p.exists()), None)
        if stat is None:
            return None
        usage = dict(line.split() for line in stat.read_text(encoding="utf-8").splitlines())
        total += int(usage["usage_usec"]) / 1e6
    return total


def timed_playbook(name: str, args: list[str], timeout: float = 1500, containers: list[str] | None = None) -> dict:
    """Wall time of one ansible-playbook run, the CPU it took, profile_tasks' slowest tasks.

    CPU: the controller's (ansible-playbook, its forks and the docker CLI,
    from getrusage of this process's children) and the fleet's containers'.
    On a machine whose cores the containers share, wall time cannot be less
    than the sum over the number of cores.
    """
    env = {
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "10",
    }
    fleet_before = container_cpu_s(containers or [])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = run(["ansible-playbook", *args], timeout=timeout, env=env, logfile=f"{name}.log")
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    fleet_after = container_cpu_s(containers or [])
    recap = proc.stdout.split("PLAY RECAP", 1)[-1]
    changed = sum(int(c) for c in re.findall(r"changed=(\d+)", recap))
    return {
        "wall_s": seconds,
        "changed": changed,
        "slowest": slowest_tasks(recap),
        "controller_cpu_s": (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime),
        "fleet_cpu_s": None if fleet_before is None or fleet_after is None else fleet_after - fleet_before,
    }


def slowest_tasks(recap: str) -> list[dict]:
    """The ten slowest tasks from profile_tasks' summary."""
    top = []
    for line in recap.splitlines():
        match = PROFILE_LINE.match(line.strip())
        if match:
            top.append({"task": match["task"].strip(), "s": float(match["secs"])})
    return sorted(top, key=lambda t: -t["s"])[:10]


def converge(size: int, inv: Path) -> dict:
    result = {"workers": size}
    hub, workers = fleet_names(size)
    fleet = [hub, *workers]
    log(f"fleet {size}: first site.yml on fresh containers")
    result["fresh"] = timed_playbook(f"fleet{size}-site-fresh", ["-i", str(inv), "site.yml"], containers=fleet)
    log(f"fleet {size}: fresh {result['fresh']['wall_s']:.0f}s; re-converge")
    result["reconverge"] = timed_playbook(f"fleet{size}-site-again", ["-i", str(inv), "site.yml"], containers=fleet)
    log(f"fleet {size}: re-converge {result['reconverge']['wall_s']:.0f}s; workers.yml --tags restart")
    result["restart"] = timed_playbook(
        f"fleet{size}-restart", ["-i", str(inv), "workers.yml", "--tags", "restart"], containers=fleet
    )
    log(f"fleet {size}: rolling restart {result['restart']['wall_s']:.0f}s")
    return result


# --- Processes in containers ------------------------------------------------------


def proc_stats(container: str, users: tuple[str, ...] = (), args_contains: str = "") -> dict:
    """RSS (MiB) and CPU seconds of a container's processes, by user or command."""
    proc = run(
        ["docker", "exec", container, "ps", "-eo", "user:32=,rss=,cputimes=,args="],
        check=False,
        timeout=30,
    )
    rss_kb = cpu = count = 0
    for line in proc.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        user, rss, secs, args = parts
        if (users and user in users) or (args_contains and args_contains in args and "ps -eo" not in args):
            rss_kb += int(rss)
            cpu += int(secs)
            count += 1
    return {"rss_mib": rss_kb / 1024, "cpu_s": cpu, "processes": count}


class Sampler(threading.Thread):
    """Peak RSS of some containers' processes while a workload runs."""

    def __init__(self, targets: dict[str, tuple[str, tuple[str, ...], str]]):
        super().__init__(daemon=True)
        self.targets = targets
        self.peak = dict.fromkeys(targets, 0.0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(2.0):
            for key, (container, users, contains) in self.targets.items():
                self.peak[key] = max(self.peak[key], proc_stats(container, users, contains)["rss_mib"])


# --- Clients ------------------------------------------------------------------------


def fleet_client(size: int, inv: Path) -> dict:
    """Render the operator's settings for the bench fleet into bench/work."""
    client_dir = WORK / f"fleet{size}" / "client"
    client_dir.mkdir(parents=True, exist_ok=True)
    run(
        [
            "ansible-playbook",
            "-i",
            str(inv),
            "controller.yml",
            "-e",
            "controller_broker_host=localhost",
            "-e",
            f"controller_broker_port={fleet_port(size)}",
            "-e",
            f"controller_app_dir={client_dir}",
        ],
        timeout=300,
        logfile=f"fleet{size}-controller.log",
    )
    return {"PYTHONPATH": f"{client_dir}:{ROOT / 'app'}", "CELERY_CONFIG_MODULE": "celeryconfig_local"}


def client_fleet(env: dict, *args: str, timeout: float = 1200) -> dict:
    proc = run([sys.executable, str(BENCH / "client.py"), *args], env=env, timeout=timeout)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def client_baseline(*args: str, timeout: float = 1200) -> dict:
    proc = run(
        [
            "docker",
            "exec",
            "-e",
            "PYTHONPATH=/opt/bench/conf:/opt/bench/app",
            "-e",
            "CELERY_CONFIG_MODULE=celeryconfig_local",
            BASELINE,
            "/opt/bench/venv/bin/python",
            "/opt/bench/client.py",
            *args,
        ],
        timeout=timeout,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_baseline(fleet_config: Path, concurrency: int) -> None:
    """One container: RabbitMQ on loopback (plaintext, guest), worker, client."""
    run(["docker", "rm", "-f", BASELINE], check=False)
    run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            BASELINE,
            "--hostname",
            BASELINE,
            "--network",
            "bridge",
            "--label",
            "org.celery-fleet.owner=bench",
            *SYSTEMD_RUN_ARGS,
            IMAGE,
        ]
    )
    # Wait for the end of systemd's boot (`--wait` needs dbus, not in the
    # image); apt started during the boot fails on its /tmp being cleaned.
    for _ in range(90):
        state = run(["docker", "exec", BASELINE, "systemctl", "is-system-running"], check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    run(
        [
            "docker",
            "exec",
            "-e",
            "DEBIAN_FRONTEND=noninteractive",
            BASELINE,
            "sh",
            "-c",
            "apt-get update -q && apt-get install -y -q --no-install-recommends rabbitmq-server python3-venv procps",
        ],
        timeout=900,
        logfile="baseline-apt.log",
    )
    run(["docker", "exec", BASELINE, "mkdir", "-p", "/opt/bench/conf"])
    run(["docker", "cp", str(ROOT / "app"), f"{BASELINE}:/opt/bench/app"])
    run(["docker", "cp", str(BENCH / "client.py"), f"{BASELINE}:/opt/bench/client.py"])
    # Only the package: app/ may hold the lab's rendered operator settings.
    run(["docker", "exec", BASELINE, "rm", "-rf", "/opt/bench/app/celeryconfig_local.py", "/opt/bench/app/controller"])
    run(
        [
            "docker",
            "exec",
            BASELINE,
            "sh",
            "-c",
            "python3 -m venv /opt/bench/venv && /opt/bench/venv/bin/pip install -q -r /opt/bench/app/requirements.txt",
        ],
        timeout=900,
        logfile="baseline-pip.log",
    )
    # The fleet's own settings, with the broker swapped for plaintext AMQP on
    # loopback (Debian's RabbitMQ lets guest in from loopback only).
    text = fleet_config.read_text(encoding="utf-8")
    text += '\n# Single-host baseline\nbroker_url = "amqp://guest:guest@127.0.0.1:5672//"\nbroker_use_ssl = False\n'
    conf = WORK / "baseline-celeryconfig_local.py"
    conf.write_text(text, encoding="utf-8")
    run(["docker", "cp", str(conf), f"{BASELINE}:/opt/bench/conf/celeryconfig_local.py"])
    run(["docker", "exec", BASELINE, "systemctl", "start", "rabbitmq-server"], timeout=300)
    for _ in range(60):
        probe = ["docker", "exec", BASELINE, "rabbitmq-diagnostics", "-q", "check_port_listener", "5672"]
        if run(probe, check=False).returncode == 0:
            break
        time.sleep(2)
    run(
        [
            "docker",
            "exec",
            "-d",
            "-e",
            "PYTHONPATH=/opt/bench/conf:/opt/bench/app",
            "-e",
            "CELERY_CONFIG_MODULE=celeryconfig_local",
            BASELINE,
            "sh",
            "-c",
            f"exec /opt/bench/venv/bin/celery --app proj worker -n base@%h -c {concurrency} "
            "--loglevel warning >/tmp/worker.log 2>&1",
        ],
    )
    client_baseline("ping", "--nodes", "1", "--timeout", "120")


# --- Workloads --------------------------------------------------------------------


def workloads(size: int, inv: Path, args, out: dict) -> None:
    hub, workers = fleet_names(size)
    env = fleet_client(size, inv)
    nodes = client_fleet(env, "ping", "--nodes", str(size), "--timeout", "120")["nodes"]
    worker_cores = pool_processes_per_worker(size) * size
    log(f"fleet {size}: {len(nodes)} nodes answer, {worker_cores} pool processes; baseline container")
    start_baseline(WORK / f"fleet{size}" / "client" / "celeryconfig_local.py", args.baseline_concurrency)

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
        ("workers: publisher confirms off", {"celery_worker_confirm_publish": False}),
    ]
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
    return rows


class WorkerProfile:
    """py-spy on a worker container's Celery processes (main and pool), from this machine.

    py-spy reads the processes' memory (ptrace), so it runs on the Docker
    host, where the containers' processes are visible, not in them.
    """

    def __init__(self, container: str, path: Path):
        self.path = path
        self.proc = None
        self.error = ""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        top = run(["docker", "top", container, "-eo", "pid,ppid,args"], check=False).stdout.splitlines()[1:]
        rows = [line.split(None, 2) for line in top if "celery" in line and "worker" in line]
        pids = {r[0] for r in rows}
        main = [r[0] for r in rows if r[1] not in pids]
        if not Path(spy).exists() or not main:
            self.error = "py-spy not installed" if main else f"no Celery process in {container}"
            return
        # --gil: only samples that hold the GIL, i.e. Python at work, not
        # the processes waiting on the broker or their pool pipes.
        self.proc = subprocess.Popen(
            [spy, "record", "--pid", main[0], "--subprocesses", "--gil", "--rate", "200", "--format", "raw",
             "--output", str(path), "--nonblocking"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def finish(self) -> dict:
        if self.proc is None:
            return {"error": self.error}
        self.proc.send_signal(2)  # SIGINT: py-spy writes what it has
        try:
            output, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output = "py-spy did not stop"
        if not self.path.exists():
            return {"error": output.strip()[-300:]}
        own: dict[str, int] = {}
        total = 0
        for line in self.path.read_text(encoding="utf-8").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            leaf = stack.rsplit(";", 1)[-1]
            own[leaf] = own.get(leaf, 0) + int(count)
            total += int(count)
        top = sorted(own.items(), key=lambda item: -item[1])[:10]
        return {"samples": total, "top_own": [{"function": f, "share": n / total} for f, n in top] if total else []}


# --- Report -------------------------------------------------------------------------


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
        ):
            cells = []
            for c in conv:
                ratio = c[key]["wall_s"] / base[key]["wall_s"]
                cells.append(f"{c[key]['wall_s']:.0f} s ({ratio:.2f}x)")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2,4,8", help="worker counts to converge (the first runs the workloads)")
    parser.add_argument("--tasks", type=int, default=10000, help="add tasks and map-reduce texts")
    parser.add_argument("--calls", type=int, default=500, help="latency round trips")
    parser.add_argument("--profile-tasks", type=int, default=5000, help="add tasks of the profiled run")
    parser.add_argument("--baseline-concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-tuning", dest="tuning", action="store_false")
    parser.add_argument("--no-recovery", dest="recovery", action="store_false")
    parser.add_argument("--no-workloads", dest="workloads", action="store_false", help="converge figures only")
    parser.add_argument("--budget-min", type=float, default=30.0, help="skip further fleet sizes past this")
    parser.add_argument("--keep", action="store_true", help="leave the fleet containers running (debugging)")
    parser.add_argument("--reuse", action="store_true", help="workloads on a fleet left by --keep, no converge")
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
