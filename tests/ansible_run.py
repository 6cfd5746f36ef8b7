"""Run ansible-playbook from the repository root, as the tests need it."""

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The workers' generated passwords (fleet_secrets_dir) that a run makes go
# here, never into the home folder's ~/.config/celery-fleet.
SECRETS = tempfile.mkdtemp(prefix="celery-fleet-tests-")
atexit.register(shutil.rmtree, SECRETS, ignore_errors=True)

# The tls role's paths that the rabbitmq role's checks read, as lines of an
# inventory's `all: vars:` (for tests that run those checks without a hub).
TLS_ROLE_VARS = """\
    tls_cert_file: /etc/celery-fleet/tls/cert.pem
    tls_key_file: /etc/celery-fleet/tls/key.pem
    tls_ca_file: /etc/celery-fleet/tls/ca.pem
    tls_group: celery-fleet-tls
"""


def ansible_playbook(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `ansible-playbook ARGS` without colours, with extra environment ``env``."""
    return subprocess.run(
        ["ansible-playbook", "-e", f"fleet_secrets_dir={SECRETS}", *args],
        check=False,
        cwd=ROOT,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
