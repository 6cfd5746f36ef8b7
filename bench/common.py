"""Paths the benchmark uses, its log line and its way of running a command."""

import datetime
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "work"
LOGS = WORK / "logs"
RESULTS = BENCH / "results"


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
