"""Send a batch of 1,000 tasks from the operator's machine while the fleet is disrupted, and read the count
(task_batch.py, run on the scenario's client, does the sending and counting)."""

import json
import time

import pytest


def start_batch(client, name: str, count: int, seconds: float, midway: int, timeout: int, *delay) -> str:
    """Start task_batch.py on the client as a transient unit (its arguments in order); the prefix of its files."""
    prefix = f"/var/tmp/e2e-{name}"
    client.run(f"rm -f {prefix}.midway {prefix}.json")
    arguments = " ".join(str(argument) for argument in (name, count, seconds, midway, timeout, *delay))
    client.check_output(
        f"systemd-run --unit=e2e-batch-{name} --collect --property=RuntimeMaxSec={timeout + 30} "
        "--property=WorkingDirectory=/opt/client/app --setenv=PYTHONPATH=/opt/client/app "
        f"/opt/client/venv/bin/python /opt/client/task_batch.py {arguments}"
    )
    return prefix


def wait_for(client, name: str, path: str, timeout: float) -> None:
    """Wait for a batch's file; fail with the batch's journal if it does not come."""
    deadline = time.time() + timeout
    while not client.file(path).exists:
        if time.time() > deadline:
            log = client.run(f"journalctl --no-pager --lines 40 --unit e2e-batch-{name}").stdout
            pytest.fail(f"the batch did not write {path} within {timeout} s:\n{log}")
        time.sleep(1)


def read_report(client, name: str, timeout: float) -> dict:
    prefix = f"/var/tmp/e2e-{name}"
    wait_for(client, name, f"{prefix}.json", timeout)
    return json.loads(client.file(f"{prefix}.json").content_string)


def run_batch(client, name: str, seconds: float, disrupt) -> tuple[dict, float]:
    """Send the batch, disrupt the fleet once 100 receipts are in; the report, and when the disruption ended."""
    prefix = start_batch(client, name, 1000, seconds, 100, 300)
    wait_for(client, name, f"{prefix}.midway", 120)
    disrupt()
    disrupted_at = time.time()
    return read_report(client, name, 300), disrupted_at


def assert_none_lost(report: dict) -> None:
    """Every one of the 1,000 tasks completed (a receipt each), and nothing else came back."""
    assert report["error"] is None, report
    assert (report["completed"], report["missing"], report["unexpected"]) == (1000, [], []), report
    # Run again only once stopped: never two runs of one task at the same time.
    assert report["overlapping"] == 0, report
