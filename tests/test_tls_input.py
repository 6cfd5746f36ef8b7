"""The tls role refuses an acme.sh release it cannot verify, before any host changes.

The role's checks run on a host reached through the local connection: they
only read variables, so nothing on this machine changes.
"""

from pathlib import Path

import pytest
from ansible_run import ansible_playbook

PLAYBOOK = """
- name: The tls role's checks alone
  hosts: hub1
  connection: local
  gather_facts: false
  tasks:
    - name: Run the checks
      ansible.builtin.include_role:
        name: tls
        tasks_from: assert
"""

ACME = ["-e", "tls_mode=acme", "-e", "tls_acme_domain=hub.example.org", "-e", "tls_acme_email=ops@example.org"]


def run(tmp_path: Path, *extra: str):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    fleet_network_profile: public\n    fleet_operator_sources: []\n  hosts:\n    hub1:\n"
    )
    return ansible_playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), *ACME, *extra)


def test_the_pinned_release_is_verified_by_default(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 0, result.stdout


def test_another_release_without_a_checksum_is_refused_naming_both_variables(tmp_path):
    result = run(tmp_path, "-e", "tls_acme_version=3.1.5")
    assert result.returncode != 0
    message = result.stdout
    assert "tls_acme_version is 3.1.5" in message
    assert "tls_acme_archive_checksum" in message
    assert "archive/refs/tags/3.1.5.tar.gz" in message


@pytest.mark.parametrize(
    "extra",
    [
        ["-e", "tls_acme_archive_checksum=sha256:" + "ab" * 32],
        # A copy on the controller is the operator's own: no download to verify.
        ["-e", "tls_acme_local_archive=/srv/acme.sh-3.1.5.tar.gz"],
    ],
)
def test_another_release_with_a_checksum_or_a_local_copy_passes(tmp_path, extra):
    result = run(tmp_path, "-e", "tls_acme_version=3.1.5", *extra)
    assert result.returncode == 0, result.stdout
