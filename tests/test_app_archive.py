"""The worker role's app packer (celery_worker_app_archive), run on the controller as Ansible runs it:
what goes to the workers, what the release and the virtualenv are named after, and what it refuses."""

import importlib.util
import json
import os
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "celery_worker_app_archive", ROOT / "roles/celery_worker/library/celery_worker_app_archive.py"
)
packer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(packer)

EXCLUDE = ["__pycache__", "*.pyc", "/celeryconfig.py", "/controller"]
DEFAULTS = yaml.safe_load((ROOT / "roles/celery_worker/defaults/main.yml").read_text())


def pack(tmp_path, src, capsys, **args):
    params = {
        "src": str(src),
        "dest_dir": str(tmp_path / "out"),
        "app": "crawler",
        "requirements": "requirements.txt",
        "exclude": EXCLUDE,
    }
    with patch_module_args({**params, **args}), pytest.raises(SystemExit):
        packer.main()
    return json.loads(capsys.readouterr().out)


def with_role_defaults(tmp_path, src, capsys):
    """Packed as the role does it, with its default exclusions."""
    return pack(
        tmp_path,
        src,
        capsys,
        exclude=DEFAULTS["celery_worker_app_exclude"],
        exclude_secrets=DEFAULTS["celery_worker_app_exclude_secrets"],
        exclude_secrets_containing=DEFAULTS["celery_worker_app_exclude_secrets_containing"],
    )


@pytest.fixture
def app(tmp_path) -> Path:
    src = tmp_path / "app"
    for path, text in {
        "crawler/__init__.py": "",
        "crawler/worker.py": "app = None\n",
        "crawler/parsers/__init__.py": "",
        "crawler/parsers/html.py": "def parse(): pass\n",
        "crawler/data/seeds.txt": "http://pages/1\n",
        "crawler/__pycache__/worker.cpython-311.pyc": "cached",
        "crawler/controller/__init__.py": "",
        "requirements.txt": "-r requirements/base.txt\nrequests==2.32.3\n",
        "requirements/base.txt": "-c constraints.txt\ncelery==5.6.3\n",
        "requirements/constraints.txt": "kombu==5.7.0\n",
        "celeryconfig.py": "broker_url = 'secret'\n",
        "controller/ca.pem": "laptop CA",
    }.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_text(text)
    return src


def members(result) -> set[str]:
    with tarfile.open(result["archive"]) as tar:
        return {member.name for member in tar.getmembers() if not member.isdir()}


def test_the_whole_tree_goes_but_what_is_excluded(tmp_path, app, capsys):
    result = pack(tmp_path, app, capsys)
    assert members(result) == {
        "crawler/__init__.py",
        "crawler/worker.py",
        "crawler/parsers/__init__.py",
        "crawler/parsers/html.py",
        "crawler/data/seeds.txt",
        # Not anchored at the root: a sub-package named controller is the app's.
        "crawler/controller/__init__.py",
        "requirements.txt",
        "requirements/base.txt",
        "requirements/constraints.txt",
    }
    assert result["files"] == 9 and not result["changed"]
    assert Path(result["archive"]).name == f"app-{result['digest']}.tar.gz"


def test_the_same_tree_has_the_same_digest_and_any_change_another(tmp_path, app, capsys):
    first = pack(tmp_path, app, capsys)
    assert pack(tmp_path, app, capsys)["digest"] == first["digest"]
    (app / "crawler/__pycache__/other.pyc").write_text("excluded: no new release")
    assert pack(tmp_path, app, capsys)["digest"] == first["digest"]
    os.chmod(app / "crawler/worker.py", 0o755)
    executable = pack(tmp_path, app, capsys)
    assert executable["digest"] != first["digest"]
    # The code changed, not what pip reads: the same virtualenv.
    assert executable["requirements_digest"] == first["requirements_digest"]
    (app / "crawler/parsers/html.py").unlink()
    assert pack(tmp_path, app, capsys)["digest"] not in {first["digest"], executable["digest"]}


def test_what_pip_reads_is_followed_through_its_includes(tmp_path, app, capsys):
    first = pack(tmp_path, app, capsys)
    assert first["requirements_files"] == [
        "requirements.txt",
        "requirements/base.txt",
        "requirements/constraints.txt",
    ]
    (app / "requirements/constraints.txt").write_text("kombu==5.7.1\n")
    assert pack(tmp_path, app, capsys)["requirements_digest"] != first["requirements_digest"]


def test_an_app_installed_as_a_package_is_a_new_virtualenv_on_every_change(tmp_path, app, capsys):
    (app / "pyproject.toml").write_text("[project]\nname = 'crawler'\ndependencies = ['celery[mongodb]>=5.5']\n")
    result = pack(tmp_path, app, capsys, requirements="")
    assert result["requirements_files"] == ["pyproject.toml"]
    assert result["requirements_digest"] == result["digest"]


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        (None, {"app": "spider"}, "celery_worker_app is spider, but celery_worker_app_source"),
        (None, {"app": "crawler.missing:app"}, "holds neither crawler/missing.py nor crawler/missing/__init__.py"),
        (None, {"requirements": "reqs.txt"}, "celery_worker_requirements is reqs.txt, which is not a file"),
        (None, {"requirements": ""}, "has no pyproject.toml, setup.cfg or setup.py"),
        ("include", {}, "includes ../outside.txt, which is not in celery_worker_app_source"),
        ("link", {}, "has links that point outside it: crawler/data/passwd"),
        ("no celery", {}, "do not ask for Celery: add celery"),
        ("celery constrained only", {}, "do not ask for Celery: add celery"),
        ("package without celery", {"requirements": ""}, "(pyproject.toml in celery_worker_app_source"),
    ],
    ids=[
        "no such module",
        "no such submodule",
        "no requirements file",
        "no pyproject",
        "include outside",
        "link",
        "no celery",
        "celery only as a constraint",
        "package without celery",
    ],
)
def test_bad_input_is_refused_naming_the_setting(tmp_path, app, capsys, change, args, message):
    if change == "include":
        (app / "requirements.txt").write_text("-r ../outside.txt\ncelery==5.6.3\n")
    if change == "link":
        os.symlink("/etc/passwd", app / "crawler/data/passwd")
    if change == "no celery":
        (app / "requirements/base.txt").write_text("-c constraints.txt\ncelery-redbeat==2.2.0\n")
    if change == "celery constrained only":
        (app / "requirements/base.txt").write_text("-c constraints.txt\n")
        (app / "requirements/constraints.txt").write_text("celery==5.6.3\n")
    if change == "package without celery":
        (app / "pyproject.toml").write_text("[project]\nname = 'crawler'\ndependencies = ['requests']\n")
    result = pack(tmp_path, app, capsys, **args)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert not (tmp_path / "out").exists()


def test_the_module_can_be_named_with_its_attribute_and_a_link_inside_is_kept(tmp_path, app, capsys):
    os.symlink("seeds.txt", app / "crawler/data/seeds-latest.txt")
    result = pack(tmp_path, app, capsys, app="crawler.worker:app")
    with tarfile.open(result["archive"]) as tar:
        link = tar.getmember("crawler/data/seeds-latest.txt")
        assert link.issym() and link.linkname == "seeds.txt"
        assert {tar.getmember(name).uid for name in tar.getnames()} == {0}


def test_check_mode_writes_nothing(tmp_path, app, capsys):
    result = pack(tmp_path, app, capsys, _ansible_check_mode=True)
    assert result["digest"] and not Path(result["archive"]).exists()


def test_no_member_is_readable_by_other_users_of_the_worker(tmp_path, app, capsys):
    (app / "crawler/data/token.txt").write_text("a secret the app reads\n")
    os.chmod(app / "crawler/data/token.txt", 0o600)
    os.chmod(app / "crawler/worker.py", 0o755)
    result = with_role_defaults(tmp_path, app, capsys)
    with tarfile.open(result["archive"]) as tar:
        modes = {member.name: member.mode for member in tar.getmembers()}
    assert modes["crawler/data/token.txt"] == 0o640
    assert (modes["crawler/worker.py"], modes["crawler/data"]) == (0o750, 0o750)
    assert {name: mode for name, mode in modes.items() if mode & 0o007} == {}


SECRETS = {
    ".env": "BROKER_PASSWORD=secret\n",
    "deploy/.env.production": "API_TOKEN=secret\n",
    "crawler/certs/client.key": "not even PEM\n",
    "crawler/certs/client-key.pem": "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n",
    # controller.yml's settings with controller_output_dir in a folder of the app.
    "laptop/celeryconfig.py": (ROOT / "roles/fleet/templates/celeryconfig.py.j2").read_text(),
}


def test_secrets_are_left_out_and_named_in_a_warning(tmp_path, app, capsys, monkeypatch):
    warnings = []
    monkeypatch.setattr(packer.AnsibleModule, "warn", lambda _module, message: warnings.append(message))
    for path, text in SECRETS.items():
        (app / path).parent.mkdir(parents=True, exist_ok=True)
        (app / path).write_text(text)
    (app / "crawler/certs/ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    result = with_role_defaults(tmp_path, app, capsys)
    # The root's celeryconfig.py (controller.yml's default place) is left out quietly: it is expected there.
    assert result["secrets_left_out"] == sorted(SECRETS)
    shipped = members(result)
    assert not shipped & {*SECRETS, "celeryconfig.py"}
    # A certificate is not a secret: the app may need it.
    assert "crawler/certs/ca.pem" in shipped
    [warning] = warnings
    assert "celery_worker_app_exclude_secrets" in warning
    assert all(path in warning for path in SECRETS)
