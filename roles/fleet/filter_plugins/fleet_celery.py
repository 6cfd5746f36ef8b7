"""Filters of the Celery settings: the Celery version an app pins, and YAML values as Python literals.

Read from the app's requirements file on the controller by the worker role
(what the virtualenv is built from) and the controller role (what the
operator's settings are rendered for).
"""

import json
import pprint
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = """
  name: fleet_celery
  short_description: The Celery version a requirements file pins
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


class FilterModule:
    def filters(self):
        return {"fleet_celery_pin": fleet_celery_pin, "fleet_python": fleet_python}
