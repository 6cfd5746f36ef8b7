"""The single-host baseline: one container with RabbitMQ, a worker and the client."""

import json
import time
from pathlib import Path

from common import BENCH, ROOT, WORK, run

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


def client_baseline(*args: str, timeout: float = 1200) -> dict:
    proc = run(
        [
            "docker",
            "exec",
            "-e",
            "PYTHONPATH=/opt/bench/conf:/opt/bench/app",
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
    run(["docker", "exec", BASELINE, "rm", "-rf", "/opt/bench/app/celeryconfig.py", "/opt/bench/app/controller"])
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
    conf = WORK / "baseline-celeryconfig.py"
    conf.write_text(text, encoding="utf-8")
    run(["docker", "cp", str(conf), f"{BASELINE}:/opt/bench/conf/celeryconfig.py"])
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
            BASELINE,
            "sh",
            "-c",
            f"exec /opt/bench/venv/bin/celery --app proj worker -n base@%h -c {concurrency} "
            "--loglevel warning >/tmp/worker.log 2>&1",
        ],
    )
    client_baseline("ping", "--nodes", "1", "--timeout", "120")
