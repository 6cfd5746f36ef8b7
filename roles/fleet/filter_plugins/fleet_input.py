"""What is wrong with what the operator asked for on the command line: the workers an operation names
(-e worker=...).

Each *_problem filter returns the one message its check prints ("" when all is well), naming the variable and the
fix; the first problem found is the one reported. The assert in the YAML reads `that: <problem> | length == 0`.
"""

DOCUMENTATION = """
  name: fleet_input
  short_description: The problem with the workers named on the command line
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


class FilterModule:
    def filters(self):
        return {
            "fleet_worker_list": fleet_worker_list,
            "fleet_target_workers_problem": fleet_target_workers_problem,
        }
