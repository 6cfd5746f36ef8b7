"""The Celery version an app's requirements pin (fleet_celery_pin), which the
worker and controller roles render the settings for."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fleet_celery", ROOT / "roles/fleet/filter_plugins/fleet_celery.py")
fleet_celery = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_celery)


@pytest.mark.parametrize(
    "line",
    [
        "celery==5.6.3",
        "celery[mongodb]==5.6.3",
        "Celery[redis,mongodb] == 5.6.3  # pinned",
        "celery==5.6.3 ; python_version>'3.8'",
    ],
)
def test_the_pin_is_read_with_or_without_extras(line):
    assert fleet_celery.fleet_celery_pin(f"# header\nkombu==5.7.0\n{line}\nvine==5.1.0\n") == "5.6.3"


def test_the_repository_app_pins_its_celery():
    assert fleet_celery.fleet_celery_pin((ROOT / "app/requirements.txt").read_text()).startswith("5.")


@pytest.mark.parametrize("text", ["celery>=5.5\n", "celery-redbeat==2.2.0\n", "# celery==5.6.3\n", ""])
def test_no_pin_is_an_error_that_names_the_file_and_the_fix(text):
    with pytest.raises(AnsibleFilterError, match=r"app/requirements.txt pins no Celery version: add a line celery=="):
        fleet_celery.fleet_celery_pin(text, "app/requirements.txt")


# The settings celery-fleet writes itself, as the fleet role has them.
MANAGED = yaml.safe_load((ROOT / "roles/fleet/vars/main.yml").read_text())["fleet_celery_managed_settings"]


@pytest.mark.parametrize(
    "extra",
    [{}, {"worker_max_tasks_per_child": 100, "task_routes": {"proj.tasks.add": {"queue": "math"}}}],
    ids=["none", "Celery settings"],
)
def test_extra_settings_celery_fleet_does_not_write_are_accepted(extra):
    assert fleet_celery.fleet_celery_extra_settings_problem(extra, MANAGED) == ""


def test_extra_settings_celery_fleet_writes_are_named_with_where_to_set_them():
    extra = {"task_routes": {"a": "b"}, "result_expires": 1, "broker_url": "amqp://x", "Bad-Name": 1}
    assert fleet_celery.fleet_celery_extra_settings_problem(extra, MANAGED) == (
        "fleet_celery_extra_settings sets broker_url (set by fleet_hub_names and fleet_broker_* (user, password, "
        "ports, vhost)); result_expires (set by fleet_result_expires): celery-fleet writes these itself. "
        "Remove them from fleet_celery_extra_settings."
    )


@pytest.mark.parametrize(
    "extra",
    [{"BROKER_URL": "amqp://x"}, {"task-routes": {}}, {1: "one"}, ["task_routes"], "task_routes: {}"],
    ids=["old uppercase name", "dash", "not a name", "a list", "a string"],
)
def test_what_is_not_a_mapping_of_setting_names_is_refused(extra):
    assert fleet_celery.fleet_celery_extra_settings_problem(extra, MANAGED) == (
        "fleet_celery_extra_settings must map Celery's lowercase setting names "
        "(https://docs.celeryq.dev/en/stable/userguide/configuration.html) to values."
    )
