"""Bad input to the mongodb role fails before any host is touched.

The hub is an address nothing listens on (TEST-NET-1, port 1). Its facts come
from a fact cache written here, so the distribution check runs without a
connection too: if a check let a run through, the run would stop at an
unreachable host instead of changing anything.
"""

import json
from pathlib import Path

from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent

INVENTORY = """
all:
  vars:
    ansible_host: 192.0.2.1
    ansible_port: 1
    ansible_ssh_common_args: -o ConnectTimeout=2
    fleet_network_profile: public
    fleet_operator_sources: []
    mongodb_admin_password: test-admin-password
    mongodb_app_password: test-app-password
{extra}
  children:
    hub:
      hosts:
        hub1:
    workers:
      hosts:
        w1:
          ansible_host: 192.0.2.21
"""

PLAYBOOK = """
- name: The mongodb role alone
  hosts: hub
  gather_facts: false
  roles:
    - role: mongodb
"""


def cached_facts(distribution: str, version: str) -> str:
    """The hub's facts in the form ansible-core 2.19's jsonfile cache stores them."""
    facts = {
        "ansible_distribution": distribution,
        "ansible_distribution_version": version,
        "ansible_distribution_major_version": version.split(".")[0],
        "ansible_os_family": "Debian",
        "ansible_default_ipv4": {"address": "192.0.2.1"},
        "ansible_virtualization_type": "docker",
    }
    return json.dumps({"__payload__": json.dumps(facts)})


def run(
    tmp_path: Path,
    extra: str = "",
    distribution: tuple[str, str] = ("Debian", "12.8"),
    playbook: str = "",
    worker_distribution: tuple[str, str] | None = None,
):
    (tmp_path / "hosts.yml").write_text(INVENTORY.format(extra=extra))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    cache = tmp_path / "facts"
    cache.mkdir()
    # A cache the setup task would have filled: the distribution check needs
    # no connection. (If the cache format changes, the tests fail: they
    # expect the distribution message.)
    (cache / "s1_hub1").write_text(cached_facts(*distribution))
    if worker_distribution:
        (cache / "s1_w1").write_text(cached_facts(*worker_distribution))
    return ansible_playbook(
        "-i",
        str(tmp_path / "hosts.yml"),
        playbook or str(tmp_path / "play.yml"),
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache),
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="0",
    )


def assert_refused(result, *words):
    assert result.returncode != 0, result.stdout
    for word in words:
        assert word in result.stdout, result.stdout
    assert "UNREACHABLE" not in result.stdout, result.stdout


def test_an_unsupported_distribution_is_named(tmp_path):
    result = run(tmp_path, distribution=("Debian", "13.1"))
    assert_refused(result, "mongodb_version", "Debian 13.1", "Debian 12 (bookworm)", "Ubuntu 24.04 (noble)")


def test_a_series_not_published_for_the_release_is_named(tmp_path):
    result = run(tmp_path, '    mongodb_version: "7.0"\n', distribution=("Ubuntu", "24.04"))
    assert_refused(result, "mongodb_version", "MongoDB 7.0", "Ubuntu 22.04 (jammy)")


def test_a_missing_password_is_named(tmp_path):
    result = run(tmp_path, '    mongodb_app_password: ""\n')
    assert_refused(result, "mongodb_app_password")
    assert "test-admin-password" not in result.stdout


def test_a_bind_address_that_is_not_an_address_is_named(tmp_path):
    result = run(tmp_path, "    mongodb_bind_ip: [127.0.0.1, hub.example.org]\n")
    assert_refused(result, "mongodb_bind_ip", "hub.example.org")


def test_an_undocumented_setting_is_named(tmp_path):
    result = run(tmp_path, "    mongodb_config_extra: {storage: {journal: {enabled: true}}}\n")
    assert_refused(result, "mongodb_config_extra", "storage.journal.enabled")


def test_an_unknown_version_is_named(tmp_path):
    result = run(tmp_path, '    mongodb_version: "6.0"\n')
    assert_refused(result, "mongodb_version")


def test_site_refuses_a_hub_mongodb_does_not_support_before_any_host_changes(tmp_path):
    # The worker's facts are cached too: the run reaches no host at all.
    result = run(
        tmp_path,
        distribution=("Debian", "13.1"),
        playbook="site.yml",
        worker_distribution=("Debian", "12.8"),
    )
    assert_refused(result, "mongodb_version", "Debian 13.1", "Debian 12 (bookworm)")
    # The whole run stopped there: no host got its base packages, the hub play never began.
    assert "TASK [common : Install" not in result.stdout, result.stdout
    assert "PLAY [Set up the hub]" not in result.stdout, result.stdout
