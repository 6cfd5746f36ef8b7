"""Checks the scenarios share: reaching a port from one host, probes run on a host, playbooks against a scenario."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Exit codes of the probe below: connected, refused, no answer (dropped).
CONNECTED, REFUSED, NO_ANSWER = 0, 3, 4

PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except ConnectionRefusedError:
    sys.exit(3)
except OSError:
    sys.exit(4)
"""


def connect(source, target: str, port: int, timeout: float = 3.0) -> int:
    """Try a TCP connection from the testinfra host `source`; CONNECTED, REFUSED or NO_ANSWER."""
    result = source.run("python3 -c %s %s %s %s", PROBE, target, str(port), str(timeout))
    if result.rc not in (CONNECTED, REFUSED, NO_ANSWER):
        raise AssertionError(f"the probe failed on the host: rc {result.rc}: {result.stderr}")
    return result.rc


def playbook(inventory: str, body: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a playbook (its YAML text) against the scenario's hosts, with the project's roles; stderr joins stdout."""
    path = tmp_path / "play.yml"
    path.write_text(body)
    return subprocess.run(
        ["ansible-playbook", "-i", inventory, str(path), *args],
        check=False,
        cwd=ROOT,
        env=dict(
            os.environ,
            ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )


PROBES = Path(__file__).resolve().parent / "probes"


def probe(
    container: str, name: str, args: dict, python: str = "python3", directory: Path = PROBES, timeout: float = 300
) -> dict:
    """Run <directory>/<name>.py's main(args) (probes/ by default) on a scenario host with `python` (its python3,
    or a virtualenv's), and return what it returns.

    The script and its arguments (passwords included) travel on stdin, never on a command line.
    """
    source = (directory / f"{name}.py").read_text()
    program = (
        f"{source}\n\nimport json as _json, sys as _sys\nprint(_json.dumps(main(_json.loads(_sys.stdin.readline()))))\n"
    )
    loader = "import sys; exec(compile(sys.stdin.read(int(sys.stdin.readline())), 'probe', 'exec'))"
    stdin = f"{len(program)}\n{program}{json.dumps(args)}\n"
    result = subprocess.run(
        ["docker", "exec", "-i", container, python, "-c", loader],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"probe {name} failed on {container}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def inventory_vars(inventory: str, host: str) -> dict:
    """A host's variables as the scenario's inventory gives them (not templated)."""
    result = subprocess.run(
        ["ansible-inventory", "-i", inventory, "--host", host],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


class Run:
    """An ansible-playbook run read as data (the ansible.posix.json callback): its exit code, the recap per
    host and each task's result per host, in order."""

    def __init__(self, returncode: int, data: dict, output: str):
        self.returncode = returncode
        self.stats = data.get("stats", {})
        self.results = [
            (task["task"]["name"], host, result)
            for play in data.get("plays", [])
            for task in play.get("tasks", [])
            for host, result in task.get("hosts", {}).items()
        ]
        # One entry a batch for a play with `serial`.
        self.plays = [play["play"]["name"] for play in data.get("plays", [])]
        self.output = output

    def changed(self, host: str) -> int:
        return self.stats.get(host, {}).get("changed", 0)

    def failed_tasks(self, host: str = "") -> list[str]:
        """The names of the tasks that failed, in order, on one host or on any."""
        return [name for name, on, result in self.results if (not host or on == host) and result.get("failed")]

    def summary(self) -> str:
        """The recap and the failed tasks with their messages, for an assertion's message (no task output; a
        no_log task's result is censored by Ansible before it reaches here)."""
        failed = [
            (name, host, str(result.get("msg", ""))[:500])
            for name, host, result in self.results
            if result.get("failed")
        ]
        return f"rc {self.returncode}; recap {self.stats}; failed {failed}"


def run_playbook(inventory: str, path: str, *args: str) -> Run:
    """Run one of the project's playbooks (a path from the repository's root) against the scenario."""
    result = subprocess.run(
        ["ansible-playbook", "-i", inventory, path, *args],
        check=False,
        cwd=ROOT,
        env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    # The JSON document, whatever timing callbacks (profile_tasks, timer) print before and after it.
    start = result.stdout.find("{")
    try:
        data = json.JSONDecoder().raw_decode(result.stdout[start:])[0] if start >= 0 else {}
    except json.JSONDecodeError:
        data = {}
    return Run(result.returncode, data, result.stderr[-3000:])
