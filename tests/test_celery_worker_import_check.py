"""The worker role's import check (files/celery_worker_import_check.py), run here with this machine's Celery
as tasks/release_check.yml runs it on a host: `python -c <its text> <celery_worker_app>` in the app's release."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from role_code import ROOT

CHECK = ROOT / "roles/celery_worker/files/celery_worker_import_check.py"

APP = """\
from celery import Celery

app = Celery("shop", include=["shop.tasks"])
app.config_from_object("celeryconfig")
"""

TASKS = """\
from shop.celery import app


@app.task
def charge(order):
    return order


@app.task(name="shop.refund")
def refund(order):
    return order
"""


def release(tmp_path: Path, app: str = APP, tasks: str = TASKS) -> Path:
    """An app's release as the role unpacks it: the package `shop`, its app in shop/celery.py."""
    package = tmp_path / "app-1a2b" / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "celery.py").write_text(app)
    (package / "tasks.py").write_text(tasks)
    return package.parent


def check(folder: Path, app: str) -> subprocess.CompletedProcess:
    """The check as the role runs it: its text with -c, in the release, the release on the path."""
    return subprocess.run(
        [sys.executable, "-c", CHECK.read_text(), app],
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["shop", "shop.celery", "shop.celery:app"])
def test_the_app_and_its_task_modules_load_without_their_settings_and_its_tasks_are_listed(tmp_path, name):
    # No celeryconfig on the path: the role renders it only once the release is checked.
    result = check(release(tmp_path), name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['shop.refund', 'shop.tasks.charge']"


def test_the_repositorys_own_app_loads():
    result = check(ROOT / "app", "proj")
    assert result.returncode == 0, result.stderr
    assert "proj.tasks.add" in result.stdout


def test_a_name_that_is_not_a_celery_app_is_refused(tmp_path):
    folder = release(tmp_path, app=APP + "\nsettings = {'broker_url': 'amqp://'}\n")
    result = check(folder, "shop.celery:settings")
    assert result.returncode == 1
    assert result.stderr.strip() == "shop.celery:settings is a dict, not a Celery app"


def test_a_task_module_that_fails_to_import_fails_the_check_with_its_error(tmp_path):
    folder = release(tmp_path, tasks="import requests_that_are_not_installed\n")
    result = check(folder, "shop")
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'requests_that_are_not_installed'" in result.stderr.splitlines()[-1]


def test_nothing_connects_while_the_app_loads(tmp_path):
    # A broker that cannot be reached: the check still passes, and quickly.
    app = APP.replace('app.config_from_object("celeryconfig")', 'app.conf.broker_url = "amqp://192.0.2.1:1//"')
    result = check(release(tmp_path, app=app), "shop")
    assert result.returncode == 0, result.stderr


def test_the_role_runs_this_file():
    variables = yaml.safe_load((ROOT / "roles/celery_worker/vars/main.yml").read_text())
    assert f"'{CHECK.name}'" in variables["celery_worker_import_check"]
