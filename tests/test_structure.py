"""The roles' layering and their doors, as scripts/structure_report.py measures them."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import structure_report  # noqa: E402


def test_no_role_calls_a_role_above_it():
    # fleet at the bottom, then common and tls, then the services, then the
    # Celery clients: a call upward would make a lower role depend on a higher.
    assert structure_report.report()["upward_role_calls"] == []


def test_every_entry_point_that_is_called_has_an_argument_spec():
    assert structure_report.report()["entry_points_called_without_spec"] == []


def test_no_jinja_control_flow_over_five_lines_in_yaml():
    # A decision longer than that is a filter or a module, with a unit test.
    assert structure_report.report()["jinja_control_flow_over_5_lines"] == []


def test_the_report_sees_an_upward_call_and_long_control_flow(tmp_path, monkeypatch):
    # The checks above must be able to fail: a common role that calls mongodb
    # and holds a long loop in its defaults is reported.
    (tmp_path / "roles/common/tasks").mkdir(parents=True)
    (tmp_path / "roles/common/defaults").mkdir(parents=True)
    (tmp_path / "roles/common/tasks/main.yml").write_text(
        "- name: Call upward\n  ansible.builtin.include_role:\n    name: mongodb\n    tasks_from: platform\n"
    )
    loop = "\n".join(["common_x: >-", "  {% for i in range(3) %}", *["  {{ i }}"] * 5, "  {% endfor %}"])
    (tmp_path / "roles/common/defaults/main.yml").write_text(loop + "\n")
    monkeypatch.setattr(structure_report, "ROOT", tmp_path)
    figures = structure_report.report()
    assert figures["upward_role_calls"] == ["common -> mongodb:platform (roles/common/tasks/main.yml)"]
    assert figures["entry_points_called_without_spec"] == ["mongodb:platform"]
    assert figures["jinja_control_flow_over_5_lines"] == ["roles/common/defaults/main.yml common_x (7 lines)"]
