"""What the e2e checks share: the operator's machine (e2e-client) with the app and its rendered settings."""

import subprocess
from pathlib import Path

import pytest
from checks import run_playbook

BATCH = Path(__file__).resolve().parents[2] / "_platform" / "task_batch.py"


@pytest.fixture(scope="session")
def client_app(inventory, hosts):
    """The operator's Celery settings rendered on the client by controller.yml, and the batch script there."""
    rendered = run_playbook(
        inventory, "controller.yml", "-e", "controller_hosts=e2e-client", "-e", "controller_output_dir=/opt/client/app"
    )
    assert rendered.returncode == 0, rendered.summary() + rendered.output
    subprocess.run(["docker", "cp", str(BATCH), "e2e-client:/opt/client/task_batch.py"], check=True)
    return hosts("e2e-client")
