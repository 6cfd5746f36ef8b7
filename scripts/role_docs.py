#!/usr/bin/env python3
"""Write each role's variable and entry point tables into its README.

meta/argument_specs.yml is the one description of a role's variables and of
its entry points (tasks_from); a variable's default comes from
defaults/main.yml, an entry point's callers from the playbooks and roles
that call it. Each table sits between two markers in the README; nothing
else in the README is touched.

    scripts/role_docs.py          rewrite the tables
    scripts/role_docs.py --check  exit 1, naming each stale README (the test suite runs this)
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- variables: written by scripts/role_docs.py from meta/argument_specs.yml; edit those -->"
END = "<!-- end of variables -->"
ENTRY_BEGIN = "<!-- entry points: written by scripts/role_docs.py from meta/argument_specs.yml; edit those -->"
ENTRY_END = "<!-- end of entry points -->"
TEMPLATE = re.compile(r"\{\{.*?\}\}", re.S)
SIMPLE = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}$")
NAME = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
MARKUP = re.compile(r"\b([CIBV])\(([^()]*)\)")


def load(path: Path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def known_variables() -> set[str]:
    names = set()
    for values in [*ROOT.glob("roles/*/defaults/main.yml"), *ROOT.glob("roles/*/vars/main.yml")]:
        names.update((load(values) or {}).keys())
    return names


def text(description) -> str:
    if isinstance(description, list):
        description = " ".join(description)
    description = " ".join(str(description or "").split())
    description = MARKUP.sub(lambda m: f"`{m.group(2)}`" if m.group(1) in "CV" else f"*{m.group(2)}*", description)
    return description.replace("|", "\\|")


def shown_default(name: str, defaults: dict, spec: dict, variables: set[str]) -> str:
    if name not in defaults:
        return "required" if spec.get("required") else "none"
    value = defaults[name]
    if isinstance(value, str) and "{{" in value:
        simple = SIMPLE.match(value.strip())
        if simple:
            shown = f"`{simple.group(1)}`"
        else:
            used = []
            for expression in TEMPLATE.findall(value):
                for word in NAME.findall(expression):
                    if word in variables and word != name and word not in used:
                        used.append(word)
            shown = "from " + ", ".join(f"`{word}`" for word in used) if used else "computed (defaults/main.yml)"
    else:
        rendered = json.dumps(value) if not isinstance(value, str) else (value if value else '""')
        shown = f"`{rendered}`" if len(rendered) <= 48 else "see defaults/main.yml"
    if spec.get("no_log"):
        shown += " (vault)"
    return shown.replace("|", "\\|")


def table(role: Path, variables: set[str]) -> str:
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role / "defaults" / "main.yml") or {}
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, spec in options.items():
        shown = shown_default(name, defaults, spec, variables)
        rows.append(f"| `{name}` | {shown} | {text(spec.get('description'))} |")
    return "\n".join([BEGIN, *rows, END])


def callers(role: str, entry: str, calls: list[dict]) -> str:
    files = sorted({call["file"] for call in calls if call["callee"] == role and call["entry"] == entry})
    return ", ".join(f"`{name}`" for name in files) or "the operator"


def entry_table(role: Path, calls: list[dict]) -> str:
    specs = load(role / "meta" / "argument_specs.yml")["argument_specs"]
    rows = ["| entry point | what it does | called from |", "|---|---|---|"]
    for entry, spec in specs.items():
        if entry != "main":
            rows.append(f"| `{entry}` | {text(spec.get('short_description'))} | {callers(role.name, entry, calls)} |")
    return "\n".join([ENTRY_BEGIN, *rows, ENTRY_END])


def rewrite(readme: str, generated: str, begin: str = BEGIN, end: str = END) -> str:
    if begin in readme and end in readme:
        before, rest = readme.split(begin, 1)
        _, after = rest.split(end, 1)
        return before + generated + after
    raise ValueError("no markers")


def role_calls() -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import structure_report

    return structure_report.role_calls()


def main(argv: list[str]) -> int:
    check = "--check" in argv
    variables = known_variables()
    calls = role_calls()
    stale = []
    for role in sorted(path.parent.parent for path in ROOT.glob("roles/*/meta/argument_specs.yml")):
        readme_path = role / "README.md"
        readme = readme_path.read_text()
        try:
            updated = rewrite(readme, table(role, variables))
        except ValueError:
            print(f"{readme_path.relative_to(ROOT)}: add the markers\n  {BEGIN}\n  {END}", file=sys.stderr)
            return 1
        if len(load(role / "meta" / "argument_specs.yml")["argument_specs"]) > 1:
            try:
                updated = rewrite(updated, entry_table(role, calls), ENTRY_BEGIN, ENTRY_END)
            except ValueError:
                markers = f"{ENTRY_BEGIN}\n  {ENTRY_END}"
                print(f"{readme_path.relative_to(ROOT)}: add the markers\n  {markers}", file=sys.stderr)
                return 1
        if updated != readme:
            stale.append(readme_path.relative_to(ROOT))
            if not check:
                readme_path.write_text(updated)
    if check and stale:
        for path in stale:
            print(f"{path}: its tables differ from meta/argument_specs.yml; run scripts/role_docs.py")
        return 1
    if not check:
        for path in stale:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
