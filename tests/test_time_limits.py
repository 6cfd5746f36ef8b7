"""The time settings keep their order, or the run stops before a host changes.

Celery must stop a task (soft limit, then the kill) before the broker's
consumer timeout closes the worker's channel, and before systemd ends a warm
shutdown. Each role's checks run here through the local connection: they only
read variables.
"""

from pathlib import Path

from ansible_run import TLS_ROLE_VARS, ansible_playbook

INVENTORY = (
    """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    fleet_network_profile: public
    fleet_operator_sources: []
    fleet_result_backend: rpc
    fleet_broker_password: a-test-password-long-enough
"""
    + TLS_ROLE_VARS
    + """  children:
    hub:
      hosts:
        hub1:
    workers:
      hosts:
        w1: {ansible_host: 192.0.2.21}
"""
)

PLAYBOOK = """
- name: The {role} role's checks alone
  hosts: {hosts}
  gather_facts: false
  tasks:
    - name: Load the distribution's settings the checks read
      ansible.builtin.include_vars: {vars}
      when: {with_vars}
    - name: Run the checks
      ansible.builtin.include_role:
        name: {role}
        tasks_from: assert
"""

ROOT = Path(__file__).resolve().parent.parent


def check(tmp_path: Path, role: str, *extra: str):
    hosts = "hub" if role == "rabbitmq" else "workers"
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(
        PLAYBOOK.format(
            role=role,
            hosts=hosts,
            vars=ROOT / "roles/rabbitmq/vars/debian-12.yml",
            with_vars="true" if role == "rabbitmq" else "false",
        )
    )
    return ansible_playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), *extra)


def test_the_defaults_follow_the_fleets_longest_task(tmp_path):
    for role in ("rabbitmq", "celery_worker"):
        result = check(tmp_path, role, "-e", "fleet_task_time_limit=7200")
        assert result.returncode == 0, result.stdout[-3000:]


def test_a_consumer_timeout_shorter_than_a_task_may_run_is_refused(tmp_path):
    result = check(tmp_path, "rabbitmq", "-e", "fleet_task_time_limit=7200", "-e", "rabbitmq_consumer_timeout=1800000")
    assert result.returncode != 0
    assert "rabbitmq_consumer_timeout is 1800000 ms" in result.stdout
    assert "fleet_task_time_limit = 7200" in result.stdout and "7260000" in result.stdout


def test_a_stop_timeout_shorter_than_a_task_may_run_is_refused(tmp_path):
    result = check(
        tmp_path, "celery_worker", "-e", "fleet_task_time_limit=7200", "-e", "celery_worker_stop_timeout=1800"
    )
    assert result.returncode != 0
    assert "celery_worker_stop_timeout" in result.stdout and "needs more than 7230" in result.stdout


def test_a_kill_grace_past_the_brokers_margin_is_refused(tmp_path):
    result = check(tmp_path, "celery_worker", "-e", "celery_worker_task_kill_grace=90")
    assert result.returncode != 0
    assert "celery_worker_task_kill_grace between 1 and 59" in result.stdout
