"""Processes in the containers: their RSS and CPU, a peak-RSS sampler and the py-spy worker profile."""

import shutil
import subprocess
import sys
import threading
from pathlib import Path

from common import run


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
