"""What every scenario's Python checks share: the scenario's hosts and its inventory.

A scenario's verify.yml runs `pytest molecule/<scenario>/tests` on the
controller (molecule/_platform/tasks/pytest.yml) with the scenario's
inventory in MOLECULE_INVENTORY_FILE; the hosts are its containers, reached
with testinfra's docker backend.
"""

import os
import sys
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parent.parent
# The shared checks (molecule/_platform/checks.py) import as `checks`.
sys.path.insert(0, str(Path(__file__).resolve().parent / "_platform"))


@pytest.fixture(scope="session")
def inventory() -> str:
    path = os.environ.get("MOLECULE_INVENTORY_FILE", "")
    if not path:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these checks through `molecule verify`")
    return path


@pytest.fixture(scope="session")
def hosts():
    """A testinfra host by container name, made once per name."""
    made = {}

    def get(name: str):
        if name not in made:
            made[name] = testinfra.get_host(f"docker://{name}")
        return made[name]

    return get
