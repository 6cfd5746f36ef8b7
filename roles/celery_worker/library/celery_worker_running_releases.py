#!/usr/bin/python
"""Which worker units run another release than the links name (read only)."""

import os
import subprocess
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: celery_worker_running_releases
short_description: Find the Celery units started before the app or virtualenv link last moved
description:
  - A unit resolves the links I(app_link) and I(venv_link) when it starts and runs that release until it stops
    (its working folder, its interpreter). One whose main process started before either link was last changed
    therefore runs another release than the links name now: it is I(stale).
  - changed is true when a unit is stale, so that a task can notify the restart. After a run cut short between
    the links' move and the restart, the next run finds them.
  - Reads systemd's start time of each unit and the links' own change time (no /proc, which a container's root
    may not read for another user's process). Changes nothing, in check mode or not.
options:
  units: {type: list, elements: str, required: true, description: The units to look at (stopped ones are skipped).}
  app_link: {type: path, required: true, description: The link to the app's current release.}
  venv_link: {type: path, required: true, description: The link to the current virtualenv.}
"""

RETURN = r"""
stale: {description: The running units started before a link last moved., returned: always, type: list}
started: {description: "Per running unit: when its main process started (epoch seconds).", returned: always, type: dict}
links_changed:
  description: When the later of the two links was last changed (epoch seconds).
  returned: always
  type: float
"""


def stale_units(started: dict, links_changed: float) -> list:
    """The units whose main process started before the links last changed."""
    return sorted(unit for unit, at in started.items() if at < links_changed)


def parse_timestamp(shown: str) -> float | None:
    """systemctl's `--timestamp=us+utc` form ("Sun 2026-12-06 05:50:01.123456 UTC") as epoch seconds."""
    parts = shown.split()
    if len(parts) != 4:
        return None
    moment = datetime.strptime(f"{parts[1]} {parts[2]}", "%Y-%m-%d %H:%M:%S.%f")
    return moment.replace(tzinfo=UTC).timestamp()


def started_at(unit: str) -> float | None:
    """When a running unit's main process started, or None when it runs none."""
    shown = subprocess.run(
        ["systemctl", "show", "--timestamp=us+utc", "--property", "MainPID,ExecMainStartTimestamp", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    values = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    if shown.returncode != 0 or values.get("MainPID", "0") in ("", "0"):
        return None
    return parse_timestamp(values.get("ExecMainStartTimestamp", ""))


def link_changed(path: str) -> float:
    """When a link was last pointed somewhere (its own change time), 0 when it is not there."""
    try:
        return os.lstat(path).st_mtime
    except FileNotFoundError:
        return 0.0


def main():
    module = AnsibleModule(
        argument_spec={
            "units": {"type": "list", "elements": "str", "required": True},
            "app_link": {"type": "path", "required": True},
            "venv_link": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    started = {}
    for unit in module.params["units"]:
        at = started_at(unit)
        if at is not None:
            started[unit] = at
    changed_at = max(link_changed(module.params["app_link"]), link_changed(module.params["venv_link"]))
    stale = stale_units(started, changed_at)
    module.exit_json(changed=bool(stale), stale=stale, started=started, links_changed=changed_at)


if __name__ == "__main__":
    main()
