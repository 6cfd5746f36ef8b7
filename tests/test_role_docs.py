"""Each role's README lists its variables as meta/argument_specs.yml describes them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_role_readme_matches_its_argument_specs():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "role_docs.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stale_table_is_named(tmp_path, monkeypatch):
    # The check reads the repository's roles: a copy of one with a changed
    # description must be reported.
    sys.path.insert(0, str(ROOT / "scripts"))
    import role_docs

    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      demo_port: {type: int, description: The port.}\n"
    )
    (role / "defaults" / "main.yml").write_text("demo_port: 8080\n")
    (role / "README.md").write_text(f"# demo\n\n{role_docs.BEGIN}\n{role_docs.END}\n")
    monkeypatch.setattr(role_docs, "ROOT", tmp_path)
    assert role_docs.main(["--check"]) == 1
    assert role_docs.main([]) == 0
    assert "| `demo_port` | `8080` | The port. |" in (role / "README.md").read_text()
    assert role_docs.main(["--check"]) == 0
