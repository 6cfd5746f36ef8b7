"""The virtualenv archive in the controller's cache (the worker role's module celery_worker_venv_archive): a
fetch cut short, or any archive that is not whole, is never unpacked on a worker, and is built again."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from role_code import load

cache = load("roles/celery_worker/library/celery_worker_venv_archive.py")

MARKER = "venv-0123456789ab/.celery-fleet-venv"


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    """What the module warns of, as Ansible would print it."""
    said: list[str] = []
    monkeypatch.setattr(cache.AnsibleModule, "warn", lambda _module, message: said.append(message))
    return said


def run(capsys, **params) -> dict:
    with patch_module_args(params), pytest.raises(SystemExit):
        cache.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def archive(tmp_path) -> Path:
    """A virtualenv's archive as the build packs it: a megabyte of packages, then the marker."""
    path = tmp_path / "cache" / "venv-0123456789ab-debian12-x86_64-python3.11.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [("venv-0123456789ab/lib/site.py", bytes(range(256)) * 4096), (MARKER, b"0123456789ab\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def truncate(path: Path, keep: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_whole_archive_is_used(archive, capsys):
    result = run(capsys, path=str(archive), marker=MARKER)
    assert (result["usable"], result["changed"], result["problem"]) == (True, False, "")
    assert archive.exists()


@pytest.mark.parametrize("keep", [0.6, 0.999], ids=["cut in the middle", "cut in the last bytes"])
def test_a_truncated_archive_is_removed_said_and_built_again(archive, capsys, warnings, keep):
    truncate(archive, keep)
    result = run(capsys, path=str(archive), marker=MARKER)
    assert not result["usable"] and result["changed"]
    assert not archive.exists()
    [warning] = warnings
    assert "is damaged" in warning and "built again" in warning


def test_check_mode_says_a_truncated_archive_is_not_usable_and_leaves_it(archive, capsys):
    truncate(archive)
    result = run(capsys, path=str(archive), marker=MARKER, _ansible_check_mode=True)
    assert not result["usable"] and archive.exists()


def test_an_archive_without_the_marker_is_not_a_whole_virtualenv(archive, capsys):
    assert cache.archive_problem(str(archive), "venv-other/.celery-fleet-venv") == (
        "it holds no venv-other/.celery-fleet-venv"
    )


def test_a_missing_archive_is_built_without_a_warning(tmp_path, capsys, warnings):
    result = run(capsys, path=str(tmp_path / "none.tar.gz"), marker=MARKER)
    assert not result["usable"] and not result["changed"] and not warnings


def test_a_fetched_archive_takes_the_caches_name_only_when_it_is_the_builders(archive, capsys):
    whole = archive.read_bytes()
    builders = hashlib.sha256(whole).hexdigest()
    fetched = archive.with_name(archive.name + ".partial")
    archive.unlink()
    fetched.write_bytes(whole[:-100])
    cut = run(capsys, path=str(archive), marker=MARKER, fetched=str(fetched), checksum=builders)
    assert cut["failed"] and "is not whole" in cut["msg"]
    assert not fetched.exists() and not archive.exists()
    fetched.write_bytes(whole)
    kept = run(capsys, path=str(archive), marker=MARKER, fetched=str(fetched), checksum=builders)
    assert kept["usable"] and kept["changed"]
    assert archive.read_bytes() == whole and not fetched.exists()
