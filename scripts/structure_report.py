#!/usr/bin/env python3
"""Measure how the roles are put together: the figures a reviewer asks for.

    scripts/structure_report.py          print the figures
    scripts/structure_report.py --json   the same as JSON

Figures: tasks per role; Jinja expressions in YAML longer than five lines
(and those with `{% %}` control flow); role calls that run upward in the
layering; entry points called from playbooks, roles or scenarios without an
argument_spec. tests/test_structure.py holds the aims.
"""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Lower layers never call higher ones; a role may call its own layer's peers
# only through the fleet contract (it does not today).
LAYERS = {
    "fleet": 0,
    "common": 1,
    "tls": 1,
    "rabbitmq": 2,
    "mongodb": 2,
    "node_exporter": 2,
    "prometheus": 2,
    "celery_worker": 3,
    "controller": 3,
    "flower": 3,
}
BLOCK_KEYS = ("block", "rescue", "always")
ROLE_CALLS = ("include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role")
LONG = 5


class Loader(yaml.SafeLoader):
    """YAML with Ansible's tags read as plain strings (!vault, !unsafe)."""


Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


def load(path: Path):
    try:
        return yaml.load(path.read_text(), Loader=Loader)
    except yaml.YAMLError:
        return None


def leaf_tasks(items) -> list[dict]:
    tasks = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if any(key in item for key in BLOCK_KEYS):
            for key in BLOCK_KEYS:
                tasks += leaf_tasks(item.get(key))
        else:
            tasks.append(item)
    return tasks


def yaml_files() -> list[Path]:
    files = []
    for pattern in ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "roles/*/defaults/*.yml", "roles/*/vars/*.yml"):
        files += ROOT.glob(pattern)
    files += ROOT.glob("playbooks/*.yml")
    files.append(ROOT / "site.yml")
    files.append(ROOT / "workers.yml")
    return sorted(path for path in files if path.exists())


def scalars(node, where=""):
    """Scalar nodes with their place and their line count in the file (folded ones too)."""
    if isinstance(node, yaml.ScalarNode):
        yield where, node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(value, f"{where}.{key.value}" if where else str(key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            yield from scalars(value, f"{where}[{index}]")


def long_jinja() -> list[dict]:
    found = []
    for path in yaml_files():
        try:
            tree = yaml.compose(path.read_text(), Loader=Loader)
        except yaml.YAMLError:
            continue
        for where, node in scalars(tree):
            value = node.value
            if "{{" not in value and "{%" not in value:
                continue
            lines = node.end_mark.line - node.start_mark.line + 1
            if node.style in (">", "|"):
                # Not the indicator's line, nor the next key's where the scalar ends.
                lines -= 1 + (node.end_mark.column == 0)
            if lines > LONG:
                found.append(
                    {
                        "file": str(path.relative_to(ROOT)),
                        "key": where,
                        "lines": lines,
                        "control_flow": "{%" in value,
                    }
                )
    return found


def role_calls() -> list[dict]:
    """Every include_role/import_role and meta dependency: (caller, callee, entry point)."""
    calls = []
    for path in sorted(ROOT.glob("roles/*/meta/main.yml")):
        caller = path.parent.parent.name
        for dep in (load(path) or {}).get("dependencies") or []:
            name = dep.get("role") if isinstance(dep, dict) else dep
            calls.append({"caller": caller, "callee": name, "entry": "main", "file": str(path.relative_to(ROOT))})
    sources = [*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/handlers/*.yml")]
    sources += [*ROOT.glob("playbooks/*.yml"), *ROOT.glob("molecule/*/*.yml")]
    for path in sorted(sources):
        caller = path.parent.parent.name if path.parts[-3] == "roles" or "roles" in path.parts else None
        for task in walk_tasks(load(path)):
            for key in ROLE_CALLS:
                call = task.get(key)
                if isinstance(call, dict) and call.get("name"):
                    calls.append(
                        {
                            "caller": caller,
                            "callee": call["name"],
                            "entry": call.get("tasks_from", "main"),
                            "file": str(path.relative_to(ROOT)),
                        }
                    )
    return calls


def walk_tasks(node):
    """Tasks anywhere in a task file or a playbook (plays' tasks, pre_tasks, roles' blocks)."""
    if isinstance(node, list):
        for item in node:
            yield from walk_tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", *BLOCK_KEYS):
            yield from walk_tasks(node.get(key))


def specs() -> dict[str, set[str]]:
    found = {}
    for path in ROOT.glob("roles/*/meta/argument_specs.yml"):
        found[path.parent.parent.name] = set((load(path) or {}).get("argument_specs") or {})
    return found


def where(item: dict) -> str:
    return f"{item['file']} {item['key']} ({item['lines']} lines)"


def report() -> dict:
    tasks = {}
    for role in sorted(ROOT.glob("roles/*/tasks")):
        files = sorted(role.glob("*.yml"))
        tasks[role.parent.name] = {
            "files": len(files),
            "tasks": sum(len(leaf_tasks(load(path))) for path in files),
        }
    calls = role_calls()
    upward = [
        call
        for call in calls
        if call["caller"] in LAYERS
        and call["callee"] in LAYERS
        and call["caller"] != call["callee"]
        and LAYERS[call["callee"]] >= LAYERS[call["caller"]]
    ]
    known = specs()
    called = sorted({(c["callee"], c["entry"]) for c in calls if "{{" not in str(c["entry"])})
    unspecified = [f"{role}:{entry}" for role, entry in called if entry not in known.get(role, set())]
    jinja = long_jinja()
    return {
        "tasks_per_role": tasks,
        "tasks_total": sum(role["tasks"] for role in tasks.values()),
        "task_files": sum(role["files"] for role in tasks.values()),
        "entry_points": sum(len(entries - {"main"}) for entries in known.values()),
        "entry_points_called_without_spec": unspecified,
        "upward_role_calls": [f"{c['caller']} -> {c['callee']}:{c['entry']} ({c['file']})" for c in upward],
        "jinja_over_5_lines": len(jinja),
        "jinja_over_5_lines_total_lines": sum(item["lines"] for item in jinja),
        "jinja_control_flow_over_5_lines": [where(i) for i in jinja if i["control_flow"]],
        "jinja_expressions_over_5_lines": [where(i) for i in jinja if not i["control_flow"]],
    }


def main(argv: list[str]) -> int:
    figures = report()
    if "--json" in argv:
        print(json.dumps(figures, indent=2))
        return 0
    for key, value in figures.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for name, sub in value.items():
                print(f"  {name}: {sub}")
        elif isinstance(value, list):
            print(f"{key}: {len(value)}")
            for item in value:
                print(f"  {item}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
