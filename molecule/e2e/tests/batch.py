"""Send a batch of 1,000 tasks from the operator's machine while the fleet is disrupted, and read the count
(task_batch.py, run on e2e-client, does the sending and counting)."""

import json
import time

import pytest


def run_batch(client, name: str, seconds: float, disrupt) -> tuple[dict, float]:
    """Send the batch, disrupt the fleet once 100 receipts are in; the report, and when the disruption ended."""
    prefix = f"/var/tmp/e2e-{name}"
    client.run(f"rm -f {prefix}.midway {prefix}.json")
    client.check_output(
        f"systemd-run --unit=e2e-batch-{name} --collect --property=RuntimeMaxSec=330 "
        "--property=WorkingDirectory=/opt/client/app --setenv=PYTHONPATH=/opt/client/app "
        f"/opt/client/venv/bin/python /opt/client/task_batch.py {name} 1000 {seconds} 100 300"
    )

    def wait_for(path: str, timeout: float) -> None:
        deadline = time.time() + timeout
        while not client.file(path).exists:
            if time.time() > deadline:
                log = client.run(f"journalctl --no-pager --lines 40 --unit e2e-batch-{name}").stdout
                pytest.fail(f"the batch did not write {path} within {timeout} s:\n{log}")
            time.sleep(1)

    wait_for(f"{prefix}.midway", 120)
    disrupt()
    disrupted_at = time.time()
    wait_for(f"{prefix}.json", 300)
    return json.loads(client.file(f"{prefix}.json").content_string), disrupted_at


def assert_none_lost(report: dict) -> None:
    """Every one of the 1,000 tasks completed (a receipt each), and nothing else came back."""
    assert report["error"] is None, report
    assert (report["completed"], report["missing"], report["unexpected"]) == (1000, [], []), report
    # Run again only once stopped: never two runs of one task at the same time.
    assert report["overlapping"] == 0, report
