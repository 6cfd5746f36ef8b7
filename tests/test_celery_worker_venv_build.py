"""The worker role's virtualenv build (files/celery_worker_venv_build.sh), run here as tasks/venv.yml runs it on a
host: the marker comes only after pip succeeded, a failed or interrupted build leaves no folder, and pip gets the
operator's extra arguments as they were quoted."""

import os
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from role_code import ROOT

SCRIPT = ROOT / "roles/celery_worker/files/celery_worker_venv_build.sh"
MARKER = ".celery-fleet-venv"

# An interpreter whose `-m venv DIR` makes a virtualenv with a pip that notes its arguments (and the folder it
# runs in) and fails an install when PIP_FAILS is set: what the script asks of Python and pip, in milliseconds.
FAKE_PYTHON = """#!/bin/sh
[ "$1 $2" = "-m venv" ] || exit 2
mkdir -p "$3/bin"
cat > "$3/bin/pip" <<'PIP'
#!/bin/sh
printf '%s\\n' "$PWD" "$@" -- >> "$PIP_LOG"
if [ "$1" = install ] && [ -n "${PIP_FAILS:-}" ]; then echo "ERROR: No matching distribution" >&2; exit 1; fi
PIP
chmod +x "$3/bin/pip"
"""


@pytest.fixture
def host(tmp_path) -> dict:
    """A worker's paths: the app's new release (with its requirements), the folder of the new virtualenv."""
    release = tmp_path / "srv" / "app-1a2b"
    release.mkdir(parents=True)
    (release / "requirements.txt").write_text("celery==5.6.3\n")
    python = tmp_path / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return {
        "VENV": str(tmp_path / "srv" / "venv-0123456789ab"),
        "PYTHON": str(python),
        "RELEASE": str(release),
        "REQUIREMENTS": "requirements.txt",
        "ID": "0123456789ab",
        "MARKER": MARKER,
        "ARCHIVE": "",
        "PIP_LOG": str(tmp_path / "pip.log"),
    }


def build(env: dict, extra_args: str = "") -> subprocess.CompletedProcess:
    """The script as ansible.builtin.script runs it: /bin/sh, the extra arguments read by a shell."""
    return subprocess.run(
        f"/bin/sh {shlex.quote(str(SCRIPT))} {extra_args}",
        shell=True,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def pip_calls(env: dict) -> list[list[str]]:
    """Each pip run: the folder it ran in, then its arguments."""
    calls = Path(env["PIP_LOG"]).read_text().split("\n--\n")
    return [call.strip("\n").split("\n") for call in calls if call.strip()]


def test_pip_installs_the_requirements_with_the_extra_arguments_as_quoted(host):
    result = build(host, "--index-url 'https://pypi.example.org/simple' --no-cache-dir")
    assert result.returncode == 0, result.stderr
    install, uninstall = pip_calls(host)
    assert install == [
        host["RELEASE"],
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-warn-script-location",
        "--index-url",
        "https://pypi.example.org/simple",
        "--no-cache-dir",
        "-r",
        "requirements.txt",
    ]
    assert uninstall[1:] == ["uninstall", "--disable-pip-version-check", "--yes", "--quiet", "pip", "setuptools"]
    assert (Path(host["VENV"]) / MARKER).read_text() == "0123456789ab\n"


def test_without_a_requirements_file_pip_installs_the_app_itself(host):
    result = build(dict(host, REQUIREMENTS=""))
    assert result.returncode == 0, result.stderr
    install = pip_calls(host)[0]
    assert install[-2:] == ["--no-warn-script-location", host["RELEASE"]]


def test_a_failed_install_leaves_no_folder_and_no_marker(host):
    result = build(dict(host, PIP_FAILS="1"))
    assert result.returncode != 0
    assert "No matching distribution" in result.stderr
    assert not Path(host["VENV"]).exists()
    assert len(pip_calls(host)) == 1  # pip and setuptools stay: nothing was kept


def test_what_an_interrupted_build_left_is_removed_first(host):
    leftover = Path(host["VENV"]) / "lib" / "half-installed.py"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("")
    assert build(host).returncode == 0
    assert not leftover.exists() and (Path(host["VENV"]) / MARKER).exists()


def test_the_archive_holds_the_folder_under_its_own_name_marker_included(host, tmp_path):
    archive = tmp_path / "venv-0123456789ab-debian12-x86_64-python3.11.tar.gz"
    result = build(dict(host, ARCHIVE=str(archive)))
    assert result.returncode == 0, result.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "venv-0123456789ab/.celery-fleet-venv" in names
    assert "venv-0123456789ab/bin/pip" in names
    assert all(name.startswith("venv-0123456789ab") for name in names)


def test_a_real_virtualenv_is_built_without_pip(tmp_path):
    """With this machine's Python and pip, offline: nothing to install, then pip and setuptools removed."""
    release = tmp_path / "app-1a2b"
    release.mkdir()
    (release / "requirements.txt").write_text("# nothing\n")
    venv = tmp_path / "venv-0123456789ab"
    env = {
        "VENV": str(venv),
        "PYTHON": sys.executable,
        "RELEASE": str(release),
        "REQUIREMENTS": "requirements.txt",
        "ID": "0123456789ab",
        "MARKER": MARKER,
        "ARCHIVE": "",
    }
    result = build(env, "--no-index --quiet")
    assert result.returncode == 0, result.stderr
    assert (venv / MARKER).read_text() == "0123456789ab\n"
    assert not (venv / "bin" / "pip").exists()
    python = subprocess.run([venv / "bin" / "python", "-c", "import pip"], capture_output=True, check=False)
    assert python.returncode != 0
