"""What is wrong with what the operator asked for on the command line: the workers an operation names
(-e worker=...), the hosts to uninstall, the backup to write or restore.

Each *_problem filter returns the one message its check prints ("" when all is well), naming the variable and the
fix; the first problem found is the one reported. The assert in the YAML reads `that: <problem> | length == 0`.
"""

import os
import re

from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

DOCUMENTATION = """
  name: fleet_input
  short_description: The problem with the workers, hosts or backup named on the command line
"""


def fleet_worker_list(value) -> list[str]:
    """The worker names of -e worker=a,b (a string split at commas, or a list), trimmed, empty ones dropped."""
    if value is None:
        value = ""
    items = value.split(",") if isinstance(value, str) else value
    names = (str(item).strip() for item in items)
    return [name for name in names if name]


def _unique_missing(names: list[str], known: list[str]) -> list[str]:
    """The names not in known, each once, in the order named."""
    return list(dict.fromkeys(name for name in names if name not in known))


def fleet_target_workers_problem(names: list[str], groups: dict, inventory_dir: str = "") -> str:
    """Why the workers an operation names (fleet_worker_list of fleet_target_workers) cannot be its targets."""
    if not names:
        return "Name the worker: -e worker=<inventory name> (several: -e worker=a,b)."
    unknown = _unique_missing(names, groups.get("all", []))
    if unknown:
        return (
            f"{', '.join(unknown)}: no such host in the inventory ({inventory_dir}); add it to the group `workers` "
            "of hosts.yml first, or check the spelling."
        )
    others = _unique_missing(names, groups.get("workers") or [])
    if others:
        return (
            f"{', '.join(others)}: not in the group `workers` (a hub or another host); only workers can be named here."
        )
    return ""


def _hub_problem(hubs: list[str], role: str) -> str:
    if len(hubs) == 1:
        return ""
    return f"The inventory needs exactly one host in the group `hub` (it has {len(hubs)}): that is the host {role}."


def fleet_backup_problem(backup_parent: str, hubs: list[str], repository: str) -> str:
    """Why playbooks/backup.yml cannot write into backup_parent (the folder of the backups): "" when it can."""
    hub = _hub_problem(hubs, "backed up")
    if hub:
        return hub
    # A backup holds secrets: never inside the repository, where a commit could take it along.
    inside = (os.path.realpath(backup_parent) + "/").startswith(repository + "/")
    if not backup_parent.startswith("/") or inside:
        return (
            f"backup_dir ({backup_parent}) must be an absolute folder outside this repository ({repository}): a "
            "backup holds the broker's password hashes and the CA's key. Leave it out (the default is "
            "~/.config/celery-fleet/<inventory>-<digest>/backups) or choose another."
        )
    return ""


def _stat(result: dict) -> dict:
    """The stat of one item of a looped ansible.builtin.stat ({} when the item was skipped)."""
    return result.get("stat") or {}


def fleet_restore_problem(restore_dir: str, stats: list[dict], hubs: list[str]) -> str:
    """Why playbooks/restore.yml cannot restore restore_dir: "" when it can.

    stats: the results of the stat of restore_dir and of its rabbitmq-definitions.json, in that order.
    """
    if not restore_dir:
        return (
            "Say which backup to restore: -e restore_from=<folder>, one of the folders playbooks/backup.yml printed "
            "(under ~/.config/celery-fleet/<inventory>-<digest>/backups by default)."
        )
    if not _stat(stats[0]).get("isdir", False):
        return (
            f"restore_from ({restore_dir}) is not a folder on this controller: give the folder playbooks/backup.yml "
            "printed."
        )
    if not _stat(stats[1]).get("isreg", False):
        return (
            f"restore_from ({restore_dir}) holds no rabbitmq-definitions.json: it is not a folder written by "
            "playbooks/backup.yml."
        )
    return _hub_problem(hubs, "restored")


def _inventory(groups: dict) -> InventoryManager:
    """The inventory as the inventory_hostnames lookup sees it: built from `groups`, so patterns match alike."""
    inventory = InventoryManager(DataLoader(), parse=False)
    for group, hosts in groups.items():
        inventory.add_group(group)
        for host in hosts:
            inventory.add_host(host, group=group)
    return inventory


def _matches(inventory: InventoryManager, pattern) -> list[str]:
    try:
        return [host.name for host in inventory.get_hosts(pattern=pattern)]
    except AnsibleError:
        # As the lookup does: a pattern Ansible cannot read matches nothing.
        return []


def fleet_pattern_parts(pattern: str) -> list[str]:
    """The host names and groups a pattern names: a,b or a:b (a colon inside [] is a range), !x and &x as x."""
    parts = re.sub(r":(?![^\[]*\])", ",", pattern).split(",")
    parts = (re.sub(r"^[!&]", "", part.strip()) for part in parts)
    return [part for part in parts if part]


def fleet_uninstall_problem(pattern: str, groups: dict, inventory_sources: list[str]) -> str:
    """Why playbooks/uninstall.yml refuses uninstall_hosts (pattern): "" when it names fleet hosts only."""
    if not pattern:
        return (
            "Say which hosts to uninstall: -e uninstall_hosts=<host, group or pattern>, e.g. "
            "-e uninstall_hosts=worker3 or -e uninstall_hosts=workers (there is no default)."
        )
    inventory = _inventory(groups)
    # Every part must match a host of its own: a misspelt name is refused, not ignored.
    unknown = [part for part in fleet_pattern_parts(pattern) if not _matches(inventory, part)]
    if unknown:
        return (
            f"uninstall_hosts ({pattern}) names {', '.join(unknown)}, which matches no host or group of the "
            f"inventory ({', '.join(inventory_sources)}). Check the spelling."
        )
    matched = _matches(inventory, pattern)
    if not matched:
        return f"uninstall_hosts ({pattern}) matches no host of the inventory."
    fleet = (groups.get("hub") or []) + (groups.get("workers") or [])
    others = [host for host in matched if host not in fleet]
    if others:
        return (
            f"uninstall_hosts ({pattern}) matches {', '.join(others)}, which are neither the hub nor workers: "
            "celery-fleet did not set them up. Name the fleet's hosts only (e.g. hub:workers)."
        )
    return ""


class FilterModule:
    def filters(self):
        return {
            "fleet_worker_list": fleet_worker_list,
            "fleet_target_workers_problem": fleet_target_workers_problem,
            "fleet_backup_problem": fleet_backup_problem,
            "fleet_restore_problem": fleet_restore_problem,
            "fleet_uninstall_problem": fleet_uninstall_problem,
        }
