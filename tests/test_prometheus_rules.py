"""The prometheus role's alert rules and the checks of the two monitoring roles' input.

The rules template is rendered as tasks/test_rules.yml renders it on a hub
(the template lookup, `[[ ]]` delimiters, the role's defaults), here on this
machine through the local connection. Every alert it defines must have a
`promtool test rules` case that fires it and one that does not, in
roles/prometheus/files/tests/. promtool itself runs on a hub
(`tasks_from: test_rules`): the default scenario runs them there.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "prometheus"
TESTS = ROLE / "files" / "tests"

RENDER = """
- name: Render the alert rules with the prometheus role's defaults
  hosts: hub1
  gather_facts: false
  vars:
    role_defaults: "{{{{ lookup('ansible.builtin.file', '{role}/defaults/main.yml') | from_yaml }}}}"
  tasks:
    - name: Write the rules
      ansible.builtin.copy:
        content: >-
          {{{{ lookup('ansible.builtin.template', '{role}/templates/celery-fleet.rules.yml.j2',
                      template_vars=role_defaults | combine(extra),
                      variable_start_string='[[', variable_end_string=']]') }}}}
        dest: {out}/celery-fleet.rules.yml
        mode: "0644"
"""

INVENTORY = """
all:
  vars:
    fleet_network_profile: public
    fleet_operator_sources: []
  hosts:
    hub1: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
"""

CHECK = """
- name: Run the {role} role's checks
  hosts: hub1
  gather_facts: false
  tasks:
    - name: Run them
      ansible.builtin.include_role:
        name: {role}
        tasks_from: assert
"""

EXPECTED_ALERTS = {
    "CeleryNoWorkerOnline",
    "CeleryQueueGrowingWithoutConsumer",
    "CeleryTaskFailureRate",
    "CeleryMessagesUnacknowledgedTooLong",
    "RabbitMQAlarm",
    "HostDiskFilling",
    "TLSCertificateExpiresSoon",
    "TLSProbeFailed",
    "ScrapeTargetDown",
}


def render_rules(folder: Path, extra: dict | None = None) -> dict:
    play = folder / "render.yml"
    play.write_text(RENDER.format(role=ROLE, out=folder))
    (folder / "hosts.yml").write_text(INVENTORY)
    result = ansible_playbook("-i", str(folder / "hosts.yml"), str(play), "-e", json.dumps({"extra": extra or {}}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return yaml.safe_load((folder / "celery-fleet.rules.yml").read_text())


@pytest.fixture(scope="module")
def rules_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    render_rules(folder)
    for test_file in TESTS.glob("*.test.yml"):
        shutil.copy(test_file, folder)
    return folder


def alerts(rules: dict) -> dict:
    return {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


def cases() -> dict[str, dict[str, int]]:
    """For each alert name: how many promtool cases expect it to fire, and how many expect silence."""
    found: dict[str, dict[str, int]] = {}
    for test_file in TESTS.glob("*.test.yml"):
        for test in yaml.safe_load(test_file.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "fires" if case.get("exp_alerts") else "quiet"
                counts = found.setdefault(case["alertname"], {"fires": 0, "quiet": 0})
                counts[kind] += 1
    return found


def test_the_rules_define_the_fleets_alerts(rules_folder):
    defined = alerts(yaml.safe_load((rules_folder / "celery-fleet.rules.yml").read_text()))
    assert set(defined) == EXPECTED_ALERTS
    for name, rule in defined.items():
        assert rule.get("for"), f"{name} has no `for:`"
        assert {"summary", "description"} <= set(rule.get("annotations", {})), f"{name} lacks summary/description"
        assert rule.get("labels", {}).get("severity") in {"warning", "critical"}, name


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not(rules_folder):
    defined = alerts(yaml.safe_load((rules_folder / "celery-fleet.rules.yml").read_text()))
    tested = cases()
    missing = [name for name in defined if tested.get(name, {}).get("fires", 0) == 0]
    assert not missing, f"no promtool case fires {missing}: add one to {TESTS.relative_to(ROOT)}"
    silent = [name for name in defined if tested.get(name, {}).get("quiet", 0) == 0]
    assert not silent, f"no promtool case expects {silent} not to fire: add one to {TESTS.relative_to(ROOT)}"
    unknown = set(tested) - set(defined)
    assert not unknown, f"cases for alerts the rules do not define: {sorted(unknown)}"


def test_prometheus_templates_are_left_to_prometheus(rules_folder):
    text = (rules_folder / "celery-fleet.rules.yml").read_text()
    assert "{{ $labels.queue }}" in text
    assert "[[" not in text
    assert "for: 35m" in text


def test_the_thresholds_reach_the_rules(tmp_path):
    rules = render_rules(tmp_path, {"prometheus_alert_task_failure_ratio": 0.25, "prometheus_alert_cert_days": 30})
    defined = alerts(rules)
    assert "> 0.25" in defined["CeleryTaskFailureRate"]["expr"]
    assert "< 30 * 86400" in defined["TLSCertificateExpiresSoon"]["expr"]


def run_checks(tmp_path: Path, role: str, **variables) -> subprocess.CompletedProcess:
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    (tmp_path / "play.yml").write_text(CHECK.format(role=role))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    return ansible_playbook(
        "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), "-e", f"@{tmp_path / 'vars.yml'}"
    )


def refused(result: subprocess.CompletedProcess, *words: str) -> None:
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-3000:]
    for word in words:
        assert word in output, output[-3000:]


def test_a_listener_off_loopback_is_refused(tmp_path):
    refused(run_checks(tmp_path, "prometheus", prometheus_listen_address="0.0.0.0"), "prometheus_listen_address")


def test_a_failure_ratio_of_ten_is_refused(tmp_path):
    refused(
        run_checks(tmp_path, "prometheus", prometheus_alert_task_failure_ratio=10),
        "prometheus_alert_task_failure_ratio",
    )


def test_a_duration_without_unit_is_refused(tmp_path):
    refused(run_checks(tmp_path, "prometheus", prometheus_alert_unacked_for="35"), "prometheus_alert_unacked_for")


def test_a_target_without_port_is_refused(tmp_path):
    refused(run_checks(tmp_path, "prometheus", prometheus_node_targets=["192.0.2.21"]), "192.0.2.21")


def test_the_smtp_password_is_never_shown(tmp_path):
    canary = "canary-smtp-secret-4711"
    result = run_checks(
        tmp_path,
        "prometheus",
        prometheus_alert_email_to="ops@example.org",
        prometheus_alert_email_from="am@example.org",
        prometheus_alert_email_smarthost="bad host",
        prometheus_alert_email_username="am",
        prometheus_alert_email_password=canary,
    )
    refused(result, "prometheus_alert_email_smarthost")
    assert canary not in result.stdout + result.stderr


def test_the_defaults_pass_the_prometheus_checks(tmp_path):
    result = run_checks(tmp_path, "prometheus")
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "hub.example.org", "192.0.2.0/24", ""])
def test_a_node_exporter_address_that_is_no_single_ip_is_refused(tmp_path, address):
    refused(run_checks(tmp_path, "node_exporter", node_exporter_listen_address=address), "node_exporter_listen_address")


def test_node_exporter_sources_must_be_addresses(tmp_path):
    refused(
        run_checks(tmp_path, "node_exporter", node_exporter_allowed_sources=["hub.example.org"]),
        "node_exporter_allowed_sources",
        "hub.example.org",
    )


def test_a_worker_address_and_the_hub_as_source_pass(tmp_path):
    result = run_checks(
        tmp_path,
        "node_exporter",
        node_exporter_listen_address="192.0.2.21",
        node_exporter_allowed_sources=["192.0.2.10"],
    )
    assert result.returncode == 0, result.stdout[-3000:]
