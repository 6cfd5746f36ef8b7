"""The canary check that guards every scenario's log really catches a leak."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_secrets  # noqa: E402

CONFIG = (ROOT / ".config/molecule/config.yml").read_text()


def canaries() -> list[str]:
    return check_secrets.CANARY.findall(CONFIG)


def test_every_planted_canary_matches_the_pattern():
    planted = [line.split(":", 1)[1].strip() for line in CONFIG.splitlines() if "canary-" in line and ":" in line]
    assert planted, "no canary is planted in .config/molecule/config.yml"
    assert sorted(planted) == sorted(canaries())


def test_a_leaked_canary_fails_the_check(tmp_path):
    log = tmp_path / "converge.log"
    log.write_text(f"TASK [x]\nok: [hub] => {{'password': '{canaries()[0]}'}}\n")
    result = subprocess.run(
        [sys.executable, ROOT / "scripts/check_secrets.py", log], check=False, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "secret in output" in result.stdout


def test_a_clean_log_passes(tmp_path):
    log = tmp_path / "converge.log"
    log.write_text("TASK [x]\nok: [hub] => (censored: 'no_log: true' was specified)\n")
    result = subprocess.run(
        [sys.executable, ROOT / "scripts/check_secrets.py", log], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
