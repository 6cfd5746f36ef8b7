"""The mongodb role's users tasks (tasks_from: users) run by Ansible against a stand-in mongod.

mongod cannot be installed on these machines (molecule/mongodb reports "not
run" here). So users.yml runs on this machine through the local connection,
as playbooks/add-worker.yml and rotate.yml include it, with two stand-ins:
community.mongodb's user and role modules are replaced by a collection of the
same name whose modules record the arguments they get (module_defaults
merged in) and keep users in a file, and the role's own login check runs
unchanged over a pymongo stand-in that answers from that file. What is
proven: which tasks act in each case (first run, second run, a password
being rotated, a wrong password, refused like mongod refuses a login-less
createUser once it has users), that a second run changes nothing, what each
module is given, and that no password reaches the output. What a real
mongod answers is the unit tests' and molecule/mongodb's part.
"""

import importlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent
# The installed community.mongodb (a namespace package: no __file__).
REAL_COLLECTION = Path(next(iter(importlib.import_module("ansible_collections.community.mongodb").__path__)))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="users.yml writes a root-owned file (the rotation user's password): run as root"
)

INVENTORY = """
all:
  vars:
    fleet_network_profile: public
    fleet_operator_sources: []
    mongodb_admin_password: {admin}
    mongodb_admin_previous_password: "{previous}"
    mongodb_app_password: canary-app-password
  children:
    hub:
      hosts:
        hub1: {{ansible_connection: local}}
    workers:
      hosts:
        w1: {{ansible_host: 192.0.2.21}}
"""

PLAYBOOK = """
- name: Apply MongoDB's users, as playbooks/rotate.yml does
  hosts: hub
  gather_facts: false
  tasks:
    - name: Manage the users
      ansible.builtin.include_role:
        name: mongodb
        tasks_from: users
"""

# pymongo as the role's login check uses it, answering from the users file.
FAKE_PYMONGO = """
import json, os


class OperationFailure(Exception):
    def __init__(self, error, code=None, details=None):
        super().__init__(error)
        self.code, self.details = code, details or {"errmsg": error}


PyMongoError = OperationFailure


def _state():
    with open(os.environ["FAKE_MONGOD"]) as f:
        return json.load(f)


class MongoClient:
    def __init__(self, **options):
        self.options = options

    def __getitem__(self, database):
        return self

    def command(self, name, *args, **kwargs):
        state = _state()
        if state.get("down"):
            raise ConnectionRefusedError("mongod is down")
        users, user = state["users"], self.options.get("username")
        if user is None:
            raise OperationFailure(f"Command {name} requires authentication", code=13)
        entry = users.get(f"{self.options['authSource']}.{user}")
        if entry is None or entry["password"] != self.options["password"]:
            raise OperationFailure("Authentication failed.", code=18)
        return {"ok": 1.0}

    def close(self):
        pass
"""

# community.mongodb's modules as users.yml uses them: a login that must work
# (or, without one, no user yet: mongod's localhost exception, which creates
# the first user only; once users exist it refuses, its message holding the
# command, password included), and update_password as the real module has it
# (always: set, reported changed; on_create: roles compared only).
# users.yml tells the localhost exception's refusal by the missing `user`.
STUB_MODULE = """#!/usr/bin/python
# WANT_JSON
import json, os, sys

KIND = "{kind}"
args = {{name: value for name, value in json.load(open(sys.argv[1])).items() if not name.startswith("_ansible_")}}
path = os.environ["FAKE_MONGOD"]
state = json.load(open(path))
state["calls"].append({{"module": KIND, "args": args}})


def done(**result):
    with open(path, "w") as f:
        json.dump(state, f)
    print(json.dumps(result))
    sys.exit(0)


users = state["users"]
if args.get("login_user"):
    entry = users.get(f"{{args.get('login_database', 'admin')}}.{{args['login_user']}}")
    if entry is None or entry["password"] != args.get("login_password"):
        done(failed=True, msg="Unable to connect to database: Authentication failed.")
elif users or KIND != "user":
    command = {{"createUser": args.get("name"), "pwd": args.get("password"), "roles": args.get("roles")}}
    done(failed=True, msg=f"Unable to add or update user: not authorized on admin to execute command {{command}}")
key = f"{{args['database']}}.{{args['name']}}"
if KIND == "role":
    wanted = {{"privileges": args["privileges"], "roles": args["roles"]}}
    changed = state["roles"].get(key) != wanted
    state["roles"][key] = wanted
    done(changed=changed)
# Like the real module, a success returns the user's name (RETURN: user), a failure does not.
current = users.get(key)
if args.get("update_password") == "on_create" and current:
    changed = current["roles"] != args["roles"]
    current["roles"] = args["roles"]
    done(changed=changed, user=args["name"])
users[key] = {{"password": args["password"], "roles": args["roles"]}}
done(changed=True, user=args["name"])
"""


def stand_ins(tmp_path: Path) -> Path:
    """A stand-in mongod (its users file) and the stand-ins users.yml meets."""
    collection = tmp_path / "collections/ansible_collections/community/mongodb"
    (collection / "meta").mkdir(parents=True)
    # The real action groups: module_defaults' group must hold the real modules.
    (collection / "meta/runtime.yml").write_text((REAL_COLLECTION / "meta/runtime.yml").read_text())
    (collection / "plugins/modules").mkdir(parents=True)
    for kind in ("user", "role"):
        (collection / f"plugins/modules/mongodb_{kind}.py").write_text(STUB_MODULE.format(kind=kind))
    (tmp_path / "fakepy/pymongo").mkdir(parents=True)
    (tmp_path / "fakepy/pymongo/__init__.py").write_text(FAKE_PYMONGO + "\nfrom . import errors\n")
    (tmp_path / "fakepy/pymongo/errors.py").write_text("from . import OperationFailure, PyMongoError\n")
    # The tools' virtualenv: this Python, with the pymongo stand-in first.
    python = tmp_path / "venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text(
        f"#!/bin/sh\nexport FAKE_MONGOD={tmp_path / 'mongod.json'} PYTHONPATH={tmp_path / 'fakepy'}\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    python.chmod(0o755)
    mongod = tmp_path / "mongod.json"
    mongod.write_text(json.dumps({"users": {}, "roles": {}, "calls": []}))
    return tmp_path


def state(hub: Path) -> dict:
    return json.loads((hub / "mongod.json").read_text())


def converge(hub: Path, admin: str, previous: str = ""):
    """Run users.yml; the run's output, and the module calls it made."""
    before = len(state(hub)["calls"])
    (hub / "hosts.yml").write_text(INVENTORY.format(admin=admin, previous=previous))
    (hub / "play.yml").write_text(PLAYBOOK)
    (hub / "vars.json").write_text(
        json.dumps({"mongodb_tools_venv": str(hub / "venv"), "mongodb_rotate_credentials_file": str(hub / "rotate")})
    )
    result = ansible_playbook(
        "-v",
        "-i",
        str(hub / "hosts.yml"),
        str(hub / "play.yml"),
        "-e",
        f"@{hub / 'vars.json'}",
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
        ANSIBLE_COLLECTIONS_PATH=str(hub / "collections"),
    )
    return result, state(hub)["calls"][before:]


def set_down(hub: Path, down: bool):
    """Whether the login check's pymongo stand-in cannot reach mongod."""
    (hub / "mongod.json").write_text(json.dumps({**state(hub), "down": down}))


def users_of(hub: Path) -> dict:
    return {key: user["password"] for key, user in state(hub)["users"].items()}


def real_options(module: str) -> set[str]:
    """The options and aliases of the real community.mongodb module."""
    out = subprocess.run(
        ["ansible-doc", "-j", f"community.mongodb.{module}"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    options = json.loads(out)[f"community.mongodb.{module}"]["doc"]["options"]
    return {name for name, spec in options.items() for name in [name, *spec.get("aliases", [])]}


class Run:
    """One run of users.yml: its output, exit code and the module calls it made; the users after it."""

    def __init__(self, hub: Path, admin: str, previous: str = "", down: bool = False):
        set_down(hub, down)
        try:
            self.result, self.calls = converge(hub, admin, previous)
        finally:
            set_down(hub, False)
        self.users = users_of(hub)
        self.roles = state(hub)["roles"]
        self.passwords = {admin, previous, *self.users.values()} - {""}

    @property
    def changed(self) -> int:
        (line,) = [line for line in self.result.stdout.splitlines() if line.startswith("hub1 ")]
        return int(line.split("changed=")[1].split()[0])

    def ok(self) -> bool:
        return self.result.returncode == 0


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> dict[str, Run]:
    """A hub's life, run once for the tests below: each run starts from the users the one before left."""
    hub = stand_ins(tmp_path_factory.mktemp("hub"))
    return {
        "first": Run(hub, "canary-admin-old"),
        "second": Run(hub, "canary-admin-old"),
        "wrong password": Run(hub, "canary-admin-wrong"),
        "rotation": Run(hub, "canary-admin-new", previous="canary-admin-old"),
        "after the rotation": Run(hub, "canary-admin-new", previous="canary-admin-old"),
        "mongod down": Run(hub, "canary-admin-new", down=True),
    }


def test_a_first_run_creates_the_administrator_through_the_localhost_exception(life):
    first = life["first"]
    assert first.ok(), first.result.stdout[-3000:]
    create = first.calls[0]
    assert (create["module"], create["args"]["name"], create["args"]["password"]) == (
        "user",
        "admin",
        "canary-admin-old",
    )
    # No login at all (omit drops module_defaults' too); the connection from module_defaults.
    args = create["args"]
    assert "login_user" not in args and "login_password" not in args
    assert (args["login_host"], str(args["login_port"]), args["tls"]) == ("127.0.0.1", "27017", True)
    assert args["connection_options"] == [{"tlsAllowInvalidHostnames": True}]
    assert args["tlsCAFile"] == "/etc/celery-fleet/tls/ca.pem"


def test_a_first_run_creates_everyone_else_as_the_administrator(life):
    first = life["first"]
    for call in first.calls[1:]:
        args = call["args"]
        assert (args["login_user"], args["login_password"], args["login_database"]) == (
            "admin",
            "canary-admin-old",
            "admin",
        )
        assert (args["login_host"], args["tls"], args["tlsCAFile"]) == (
            "127.0.0.1",
            True,
            "/etc/celery-fleet/tls/ca.pem",
        )
    assert first.users["admin.admin"] == "canary-admin-old"
    assert first.users["celery.celery"] == "canary-app-password"
    assert [key for key in first.users if key.startswith("celery.worker-")], first.users
    assert "admin.celery-fleet-tls-rotate" in first.users
    assert first.roles["admin.celeryFleetRotateCertificates"]["privileges"] == [
        {"resource": {"cluster": True}, "actions": ["rotateCertificates"]}
    ]


def test_every_argument_given_is_one_the_real_modules_take(life):
    calls = [call for run in life.values() for call in run.calls]
    for module in ("user", "role"):
        given = {name for call in calls if call["module"] == module for name in call["args"]}
        assert given <= real_options(f"mongodb_{module}"), given - real_options(f"mongodb_{module}")


def test_a_second_run_changes_nothing(life):
    second = life["second"]
    assert second.ok() and second.changed == 0, second.result.stdout[-3000:]
    assert all(
        call["args"]["update_password"] == "on_create" for call in second.calls if "update_password" in call["args"]
    )
    assert second.users == life["first"].users


def test_a_wrong_password_is_refused_at_the_one_creation_attempt_and_stops_naming_the_variable(life):
    wrong = life["wrong password"]
    assert not wrong.ok()
    # One attempt, without a login, which mongod refuses: it has users.
    (create,) = wrong.calls
    assert create["module"] == "user" and "login_user" not in create["args"]
    assert (create["args"]["name"], create["args"]["password"]) == ("admin", "canary-admin-wrong")
    assert "mongodb_admin_password does not log in as admin" in wrong.result.stdout
    assert "set the current one in mongodb_admin_previous_password" in wrong.result.stdout
    # mongod's refusal (it holds the password) is not what the run shows.
    assert "not authorized on admin" not in wrong.result.stdout
    assert wrong.users == life["second"].users and wrong.roles == life["second"].roles


def test_a_failed_login_check_stops_the_run_with_its_message_before_any_change(life):
    down = life["mongod down"]
    assert not down.ok()
    assert "Cannot reach mongod on 127.0.0.1:27017: ConnectionRefusedError" in down.result.stdout
    assert down.calls == [] and down.users == life["after the rotation"].users


def test_a_rotation_logs_in_with_the_previous_password_once_then_with_the_new_one(life):
    rotation = life["rotation"]
    assert rotation.ok(), rotation.result.stdout[-3000:]
    change = rotation.calls[0]["args"]
    assert (change["login_user"], change["login_password"]) == ("admin", "canary-admin-old")
    assert (change["name"], change["password"], change["update_password"]) == ("admin", "canary-admin-new", "always")
    assert rotation.users["admin.admin"] == "canary-admin-new"
    assert all(call["args"]["login_password"] == "canary-admin-new" for call in rotation.calls[1:])
    # The other users keep their passwords.
    assert {k: v for k, v in rotation.users.items() if k != "admin.admin"} == {
        k: v for k, v in life["second"].users.items() if k != "admin.admin"
    }


def test_with_the_previous_password_still_set_the_next_run_changes_nothing(life):
    after = life["after the rotation"]
    assert after.ok() and after.changed == 0, after.result.stdout[-3000:]
    assert all(call["args"]["login_password"] == "canary-admin-new" for call in after.calls)
    assert after.users == life["rotation"].users


def test_no_password_reaches_the_output(life):
    for name, run in life.items():
        output = run.result.stdout + run.result.stderr
        assert "canary-" in "".join(run.passwords)
        for password in run.passwords:
            assert password not in output, f"{name}: a password reached the output"


def test_the_users_entry_point_has_an_argument_spec():
    specs = yaml.safe_load((ROOT / "roles/mongodb/meta/argument_specs.yml").read_text())["argument_specs"]
    options = specs["users"]["options"]
    for name in ("mongodb_admin_password", "mongodb_admin_previous_password", "mongodb_worker_users"):
        assert options[name] == specs["main"]["options"][name]
