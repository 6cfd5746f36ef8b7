"""Filters of the Celery settings: the Celery version an app pins, YAML values as Python literals, and what
is wrong with fleet_celery_extra_settings.

Read from the app's requirements file on the controller by the worker role
(what the virtualenv is built from) and the controller role (what the
operator's settings are rendered for).
"""

import json
import pprint
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

DOCUMENTATION = """
  name: fleet_celery
  short_description: The Celery version a requirements file pins, and what is wrong with extra settings
"""

_PIN = re.compile(r"^\s*celery(\[[^\]]*\])?\s*==\s*([0-9][0-9.]*)\s*(#.*|;.*)?$", re.IGNORECASE | re.MULTILINE)


def fleet_celery_pin(requirements, source="requirements.txt", default=None):
    """The version in the `celery==X.Y.Z` line of requirements (with or without extras); default, or an
    error naming source, when there is none."""
    found = _PIN.search(str(requirements or ""))
    if found is None and default is not None:
        return default
    if found is None:
        raise AnsibleFilterError(
            f"{source} pins no Celery version: add a line celery==X.Y.Z (or celery[mongodb]==X.Y.Z), "
            "the version the workers and the operator's machine run."
        )
    return found.group(2)


def fleet_python(value):
    """value (YAML data: mappings, lists, strings, numbers, booleans, null) as a Python literal."""
    try:
        plain = json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"not a plain YAML value (mappings, lists, strings, numbers): {exc}") from exc
    return pprint.pformat(plain, indent=4, width=100, sort_dicts=False)


# Celery's setting names: lowercase, as its configuration page lists them.
_SETTING = re.compile(r"^[a-z][a-z0-9_]*$")
_NOT_SETTINGS = (
    "fleet_celery_extra_settings must map Celery's lowercase setting names "
    "(https://docs.celeryq.dev/en/stable/userguide/configuration.html) to values."
)


def fleet_celery_extra_settings_problem(extra, managed: dict) -> str:
    """Why fleet_celery_extra_settings cannot be written into the settings: "" when it can.

    managed: the settings celery-fleet writes itself (fleet_celery_managed_settings), each with where it is set.
    """
    if not isinstance(extra, Mapping):
        return _NOT_SETTINGS
    taken = sorted(key for key in extra if key in managed)
    if taken:
        named = "; ".join(f"{key} (set by {managed[key]})" for key in taken)
        return (
            f"fleet_celery_extra_settings sets {named}: celery-fleet writes these itself. Remove them from "
            "fleet_celery_extra_settings."
        )
    if any(not _SETTING.match(str(key)) for key in extra):
        return _NOT_SETTINGS
    return ""


class FilterModule:
    def filters(self):
        return {
            "fleet_celery_pin": fleet_celery_pin,
            "fleet_python": fleet_python,
            "fleet_celery_extra_settings_problem": fleet_celery_extra_settings_problem,
        }
