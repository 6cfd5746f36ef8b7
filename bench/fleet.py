"""The bench fleet: its inventory, starting, converging and removing it, and the client against it."""

import json
import os
import re
import resource
import shutil
import sys
import time
from pathlib import Path

import yaml
from common import BENCH, ROOT, WORK, log, run

PROFILE_LINE = re.compile(r"^(?P<task>.+?)\s-{2,}\s+(?P<secs>[0-9.]+)s\s*$")
# A connection-level variant (bench.py --mitogen): environment and arguments of every timed playbook.
VARIANT: dict = {"env": {}, "args": [], "inventory": {}}


def use_mitogen() -> None:
    """Converge with Mitogen's linear strategy: one Python interpreter kept per host, modules sent over it.

    Mitogen takes over only connections it knows by their short name (docker, ssh), hence ansible_connection.
    """
    import ansible_mitogen

    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    VARIANT["env"] = {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}
    # In the fleet's inventory, not -e: the controller's own tasks (delegate_to: localhost) stay local.
    VARIANT["inventory"] = {"ansible_connection": "docker"}


# The run's choices (bench.py --debian): the fleets' Debian release.
SETTINGS: dict = {"debian": "12"}


def fleet_dir(size: int, hubs: int = 1) -> str:
    """A fleet's folder in bench/work and its network's suffix: fleetN (one hub), clusterN (three)."""
    return f"fleet{size}" if hubs == 1 else f"cluster{size}"


def fleet_names(size: int) -> tuple[str, list[str]]:
    return f"bench-f{size}-hub", [f"bench-f{size}-worker{i}" for i in range(1, size + 1)]


def fleet_hosts(size: int, hubs: int = 1) -> tuple[list[str], list[str]]:
    """The hubs and the workers of a fleet (three hubs: one RabbitMQ cluster, containers bench-cN-*)."""
    if hubs == 1:
        hub, workers = fleet_names(size)
        return [hub], workers
    hub_names = [f"bench-c{size}-hub{i}" for i in range(1, hubs + 1)]
    return hub_names, [f"bench-c{size}-worker{i}" for i in range(1, size + 1)]


def fleet_port(size: int, hubs: int = 1) -> int:
    """This machine's port to the (first) hub's AMQPS."""
    return (25600 if hubs == 1 else 25700) + size


def pool_processes_per_worker(size: int) -> int:
    """The fleet's workers share this machine's cores: as many pool processes in all as the baseline has."""
    return max(1, (os.cpu_count() or 2) // size)


def make_inventory(size: int, hubs: int = 1) -> Path:
    """The lab's inventory with `size` workers and one hub or three, its own network and secrets.

    Only the inventory goes in fleetN/inventory: Ansible reads every other
    file of an inventory folder as an inventory source (the CA key too).
    """
    state = WORK / fleet_dir(size, hubs)
    shutil.rmtree(state, ignore_errors=True)
    inv = state / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    hub_names, workers = fleet_hosts(size, hubs)
    # This machine reaches the first hub through a published port (the others are reached by the workers).
    hub_hosts = {name: None for name in hub_names}
    hub_hosts[hub_names[0]] = {"lab_published_ports": [f"127.0.0.1:{fleet_port(size, hubs)}:5671"]}
    hosts = {
        "all": {
            "children": {
                "hub": {"hosts": hub_hosts},
                "workers": {"hosts": {w: None for w in workers}},
            }
        }
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")
    lab_vars = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/main.yml").read_text(encoding="utf-8"))
    subnet = f"10.213.{(100 if hubs == 1 else 150) + size}"
    lab_vars.update(
        {
            "lab_debian_release": SETTINGS["debian"],
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
            # The defaults' converge (the lab turns monitoring on); the tuning
            # section measures monitoring on against off.
            "fleet_monitoring": False,
            **VARIANT["inventory"],
        }
    )
    (inv / "group_vars/all/main.yml").write_text(yaml.safe_dump(lab_vars, sort_keys=False), encoding="utf-8")
    return inv


def start_fleet(size: int, hubs: int = 1) -> Path:
    inv = make_inventory(size, hubs)
    run(
        [
            "ansible-playbook",
            "-i",
            str(inv),
            "molecule/_platform/lab.yml",
            "-e",
            f"platform_network=bench-{fleet_dir(size, hubs)}",
            "-e",
            "platform_label=bench",
        ],
        timeout=600,
        logfile=f"{fleet_dir(size, hubs)}-start.log",
    )
    return inv


def remove_fleet(size: int, hubs: int = 1) -> None:
    hub_names, workers = fleet_hosts(size, hubs)
    run(["docker", "rm", "-f", *hub_names, *workers], check=False, timeout=300)
    run(["docker", "network", "rm", f"bench-{fleet_dir(size, hubs)}"], check=False, timeout=60)


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
        **VARIANT["env"],
    }
    fleet_before = container_cpu_s(containers or [])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = run(["ansible-playbook", *args, *VARIANT["args"]], timeout=timeout, env=env, logfile=f"{name}.log")
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


def converge(size: int, inv: Path, hubs: int = 1) -> dict:
    result = {"workers": size, "hubs": hubs}
    hub_names, workers = fleet_hosts(size, hubs)
    fleet, name = [*hub_names, *workers], fleet_dir(size, hubs)
    log(f"{name}: first site.yml on fresh containers")
    result["fresh"] = timed_playbook(f"{name}-site-fresh", ["-i", str(inv), "site.yml"], containers=fleet)
    log(f"{name}: fresh {result['fresh']['wall_s']:.0f}s; re-converge")
    result["reconverge"] = timed_playbook(f"{name}-site-again", ["-i", str(inv), "site.yml"], containers=fleet)
    if hubs > 1:
        return result
    log(f"fleet {size}: re-converge {result['reconverge']['wall_s']:.0f}s; workers.yml --tags restart")
    result["restart"] = timed_playbook(
        f"fleet{size}-restart", ["-i", str(inv), "workers.yml", "--tags", "restart"], containers=fleet
    )
    log(f"fleet {size}: rolling restart {result['restart']['wall_s']:.0f}s; deploy a new app version")
    result["deploy"] = timed_playbook(
        f"fleet{size}-deploy",
        ["-i", str(inv), "workers.yml", "-e", f"celery_worker_app_source={new_app_version(size)}"],
        containers=fleet,
    )
    log(f"fleet {size}: rolling deploy {result['deploy']['wall_s']:.0f}s")
    return result


def new_app_version(size: int) -> Path:
    """The repository's app with one file changed: a new release, the same requirements (no virtualenv build)."""
    app = WORK / f"fleet{size}" / "app-v2"
    shutil.rmtree(app, ignore_errors=True)
    shutil.copytree(
        ROOT / "app", app, ignore=shutil.ignore_patterns("celeryconfig*.py", "controller", "celery_fleet_submit.py")
    )
    tasks = app / "proj" / "tasks.py"
    tasks.write_text(tasks.read_text(encoding="utf-8") + "\n# release 2 (bench)\n", encoding="utf-8")
    return app


def fleet_client(size: int, inv: Path, hubs: int = 1) -> dict:
    """Render the operator's settings for the bench fleet into bench/work.

    With three hubs the settings list the three nodes by name, which this machine does not resolve: it reaches
    the first through its published port, as `localhost`, a name in every hub's certificate (the lab's
    tls_extra_names), like a tunnel would.
    """
    client_dir = WORK / fleet_dir(size, hubs) / "client"
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
            f"controller_broker_port={fleet_port(size, hubs)}",
            "-e",
            f"controller_output_dir={client_dir}",
        ],
        timeout=300,
        logfile=f"{fleet_dir(size, hubs)}-controller.log",
    )
    if hubs > 1:
        settings = client_dir / "celeryconfig.py"
        settings.write_text(
            settings.read_text(encoding="utf-8")
            + "\n# bench: the first node, through its port published on this machine\n"
            + f'broker_url = broker_url.split(";")[0].replace("@{fleet_hosts(size, hubs)[0][0]}:5671", '
            + f'"@localhost:{fleet_port(size, hubs)}")\n',
            encoding="utf-8",
        )
    return {"PYTHONPATH": f"{client_dir}:{ROOT / 'app'}"}


def client_fleet(env: dict, *args: str, timeout: float = 1200) -> dict:
    proc = run([sys.executable, str(BENCH / "client.py"), *args], env=env, timeout=timeout)
    return json.loads(proc.stdout.strip().splitlines()[-1])
