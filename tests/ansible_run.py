"""Run ansible-playbook from the repository root, as the tests need it."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ansible_playbook(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `ansible-playbook ARGS` without colours, with extra environment ``env``."""
    return subprocess.run(
        ["ansible-playbook", *args],
        check=False,
        cwd=ROOT,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
