"""The Celery version an app's requirements pin (fleet_celery_pin), which the
worker and controller roles render the settings for."""

import importlib.util
from pathlib import Path

import pytest
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
