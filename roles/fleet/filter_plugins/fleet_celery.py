"""The Celery version an app pins, for the settings' links and version gates.

Read from the app's requirements file on the controller by the worker role
(what the virtualenv is built from) and the controller role (what the
operator's settings are rendered for).
"""

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = """
  name: fleet_celery
  short_description: The Celery version a requirements file pins
"""

_PIN = re.compile(r"^\s*celery(\[[^\]]*\])?\s*==\s*([0-9][0-9.]*)\s*(#.*|;.*)?$", re.IGNORECASE | re.MULTILINE)


def fleet_celery_pin(requirements, source="requirements.txt"):
    """The version in the `celery==X.Y.Z` line of requirements (with or without extras)."""
    found = _PIN.search(str(requirements))
    if found is None:
        raise AnsibleFilterError(
            f"{source} pins no Celery version: add a line celery==X.Y.Z (or celery[mongodb]==X.Y.Z), "
            "the version the workers and the operator's machine run."
        )
    return found.group(2)


class FilterModule:
    def filters(self):
        return {"fleet_celery_pin": fleet_celery_pin}
