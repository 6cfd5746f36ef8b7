"""The mongodb role's own modules and their shared login code, without a mongod.

What each module decides from what mongod answers: which index call a TTL
run makes (and none in check mode), how a refused login is told from an
unreachable server, which of the administrator's passwords logs in (its
password, the previous one, or neither, with a message naming the variables
to fix), and the client options every module logs in with. The
molecule/mongodb scenario runs them against a real mongod (where MongoDB's
packages can be had: see ../shared/PLATFORM.md); here mongod's side is a
stand-in that answers what pymongo would and records what it was asked.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from pymongo.errors import OperationFailure

ROLE = Path(__file__).resolve().parent.parent / "roles/mongodb"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The modules import their shared code the way Ansible ships it to a host.
shared = _load("ansible.module_utils.celery_fleet_mongodb", ROLE / "module_utils/celery_fleet_mongodb.py")
ttl_index = _load("mongodb_ttl_index", ROLE / "library/mongodb_ttl_index.py")
login_check = _load("mongodb_login_check", ROLE / "library/mongodb_login_check.py")
prune_users = _load("mongodb_prune_users", ROLE / "library/mongodb_prune_users.py")

LOGIN = {"login_user": "admin", "login_password": "a-password", "login_port": 27017}


class Collection:
    def __init__(self, calls, indexes):
        self.calls, self.indexes = calls, indexes

    def list_indexes(self):
        return [{"name": "_id_", "key": {"_id": 1}}, *self.indexes.values()]

    def create_index(self, keys, name, expireAfterSeconds):
        self.calls.append(("create_index", keys, name, expireAfterSeconds))

    def drop_index(self, name):
        self.calls.append(("drop_index", name))


class Database:
    def __init__(self, calls, indexes):
        self.calls, self.indexes = calls, indexes

    def __getitem__(self, collection):
        return Collection(self.calls, self.indexes)

    def command(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        return {"ok": 1}


class Client:
    """A mongod holding one collection with the given indexes."""

    def __init__(self, indexes=(), login_error=None):
        self.calls = []
        self.indexes = {index["name"]: index for index in indexes}
        self.login_error = login_error
        self.closed = False

    def __getitem__(self, database):
        if self.login_error:
            raise self.login_error
        return Database(self.calls, self.indexes)

    def close(self):
        self.closed = True


def run(module, client, args, monkeypatch, capsys):
    """Run a module's main() as Ansible would; its JSON result and the options it connected with."""
    seen = {}

    def connect(**options):
        seen.update(options)
        return client

    monkeypatch.setattr(module, "MongoClient", connect)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out), seen


TTL = {**LOGIN, "database": "celery", "collection": "celery_taskmeta", "field": "date_done", "name": "results_ttl"}
CURRENT = {"name": "results_ttl", "key": {"date_done": -1}, "expireAfterSeconds": 3600}


@pytest.mark.parametrize(
    ("indexes", "seconds", "action", "call"),
    [
        ([], 3600, "created", ("create_index", [("date_done", -1)], "results_ttl", 3600)),
        ([CURRENT], 3600, "none", None),
        (
            [CURRENT],
            86400,
            "updated",
            ("collMod", ("celery_taskmeta",), {"index": {"name": "results_ttl", "expireAfterSeconds": 86400}}),
        ),
        ([CURRENT], 0, "dropped", ("drop_index", "results_ttl")),
        ([], 0, "none", None),
    ],
    ids=[
        "absent: created",
        "same lifetime: untouched",
        "other lifetime: changed in place",
        "0: dropped",
        "0 and absent",
    ],
)
def test_the_ttl_index_gets_the_one_call_that_makes_it_right(indexes, seconds, action, call, monkeypatch, capsys):
    client = Client(indexes)
    result, _ = run(ttl_index, client, {**TTL, "expire_after_seconds": seconds}, monkeypatch, capsys)
    assert (result["action"], result["changed"]) == (action, action != "none")
    assert client.calls == ([call] if call else [])
    assert client.closed


def test_check_mode_reports_the_change_and_makes_no_call(monkeypatch, capsys):
    client = Client([CURRENT])
    result, _ = run(
        ttl_index, client, {**TTL, "expire_after_seconds": 60, "_ansible_check_mode": True}, monkeypatch, capsys
    )
    assert (result["action"], result["changed"]) == ("updated", True)
    assert client.calls == []


def test_a_negative_lifetime_is_refused_before_connecting(monkeypatch, capsys):
    result, seen = run(ttl_index, Client(), {**TTL, "expire_after_seconds": -1}, monkeypatch, capsys)
    assert result["failed"] and "expire_after_seconds must be 0" in result["msg"]
    assert seen == {}


def test_a_failing_index_call_fails_the_task_naming_the_index(monkeypatch, capsys):
    client = Client(login_error=OperationFailure("not authorized on celery", code=13))
    result, _ = run(ttl_index, client, {**TTL, "expire_after_seconds": 60}, monkeypatch, capsys)
    assert result["failed"] and result["msg"].startswith("Cannot manage the TTL index results_ttl: not authorized")
    assert client.closed


def test_a_working_password_is_reported_authenticated_and_changes_nothing(monkeypatch, capsys):
    result, seen = run(login_check, Client(), LOGIN, monkeypatch, capsys)
    assert (result["login"], result["authenticated"], result["changed"]) == ("current", True, False)
    assert seen["authMechanism"] == "SCRAM-SHA-256"


def test_a_refused_password_is_an_answer_not_a_failure(monkeypatch, capsys):
    client = Client(login_error=OperationFailure("Authentication failed.", code=18))
    result, _ = run(login_check, client, LOGIN, monkeypatch, capsys)
    assert (result["login"], result["authenticated"], result["changed"]) == ("none", False, False)
    assert not result.get("failed", False)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            OperationFailure("not authorized", code=13, details={"errmsg": "not authorized on admin"}),
            "mongod refused the check: not authorized on admin",
        ),
        (ConnectionRefusedError("refused"), "Cannot reach mongod on 127.0.0.1:27017: ConnectionRefusedError"),
    ],
    ids=["another refusal", "mongod down"],
)
def test_any_other_error_fails_without_the_password(error, message, monkeypatch, capsys):
    result, _ = run(login_check, Client(login_error=error), LOGIN, monkeypatch, capsys)
    assert result["failed"] and result["msg"] == message
    assert LOGIN["login_password"] not in json.dumps(result)


def test_the_login_options_turn_on_tls_only_with_a_ca_file():
    params = {**shared_defaults(), **LOGIN}
    plain = shared.client_options(params)
    assert plain["directConnection"] is True and "tls" not in plain and "authMechanism" not in plain
    tls = shared.client_options({**params, "tls_ca_file": "/etc/ca.pem"}, mechanism="SCRAM-SHA-256")
    assert (tls["tls"], tls["tlsCAFile"], tls["tlsAllowInvalidHostnames"]) == (True, "/etc/ca.pem", False)
    assert tls["authMechanism"] == "SCRAM-SHA-256" and tls["authSource"] == "admin"


def shared_defaults():
    return {name: spec.get("default") for name, spec in shared.LOGIN_ARGUMENT_SPEC.items()}


class UsersClient(Client):
    """A mongod whose database holds these users."""

    def __init__(self, users):
        super().__init__()
        self.users = users

    def __getitem__(self, database):
        found = super().__getitem__(database)
        command = found.command
        found.command = lambda name, *args: (
            {"users": [{"user": u} for u in self.users]} if name == "usersInfo" else (command(name, *args))
        )
        return found


PRUNE = {**LOGIN, "database": "celery", "prefix": "worker-", "keep": ["worker-a~2", "worker-b"]}


def test_pruning_drops_only_unkept_users_under_the_prefix_and_ends_their_sessions(monkeypatch, capsys):
    client = UsersClient(["celery", "worker-a", "worker-a~2", "worker-b", "worker-gone"])
    result, _ = run(prune_users, client, PRUNE, monkeypatch, capsys)
    assert (result["deleted_users"], result["changed"]) == (["worker-a", "worker-gone"], True)
    dropped = [args[0] for name, args, _ in client.calls if name == "dropUser"]
    assert dropped == ["worker-a", "worker-gone"]
    (killed,) = [args[0] for name, args, _ in client.calls if name == "killAllSessionsByPattern"]
    assert killed == [{"users": [{"user": "worker-a", "db": "celery"}, {"user": "worker-gone", "db": "celery"}]}]
    assert client.closed


def test_pruning_in_check_mode_or_with_nothing_stale_drops_nothing(monkeypatch, capsys):
    result, _ = run(prune_users, UsersClient(["celery", "worker-b"]), PRUNE, monkeypatch, capsys)
    assert (result["deleted_users"], result["changed"]) == ([], False)
    client = UsersClient(["worker-gone"])
    result, _ = run(prune_users, client, {**PRUNE, "_ansible_check_mode": True}, monkeypatch, capsys)
    assert (result["deleted_users"], result["changed"]) == (["worker-gone"], True)
    assert client.calls == []


# --- The administrator's login: the one decision users.yml acts on ----------


class Mongod:
    """A standalone mongod on loopback holding these users (name: password), as pymongo meets it.

    A connection with a login may run connectionStatus when its password is right, and is refused
    (AuthenticationFailed, 18) otherwise. One without a login is refused everything (Unauthorized, 13).
    """

    def __init__(self, users: dict[str, str]):
        self.users = users
        self.connections: list[dict] = []
        self.open = 0

    def connect(self, **options):
        self.connections.append(options)
        self.open += 1
        return MongodConnection(self, options)

    def passwords_tried(self) -> list[str]:
        return [options["password"] for options in self.connections if "username" in options]

    def anonymous(self) -> list[dict]:
        return [options for options in self.connections if "username" not in options]


class MongodConnection:
    def __init__(self, mongod: Mongod, options: dict):
        self.mongod, self.options = mongod, options

    def __getitem__(self, database):
        return self

    def command(self, name, *args, **kwargs):
        user = self.options.get("username")
        if user is None:
            raise OperationFailure(f"Command {name} requires authentication", code=13)
        if self.mongod.users.get(user) != self.options["password"]:
            raise OperationFailure("Authentication failed.", code=18)
        return {"ok": 1.0}

    def close(self):
        self.mongod.open -= 1


ADMIN = {
    **LOGIN,
    "login_password": "new-admin-password",
    "previous_password": "old-admin-password",
    "tls_ca_file": "/etc/ca.pem",
    "tls_allow_invalid_hostnames": True,
}
PASSWORDS = ("new-admin-password", "old-admin-password", "someone-elses-password")


def check(mongod: Mongod, args: dict, monkeypatch, capsys) -> dict:
    """The login check's result against `mongod`; every connection it opened is closed, none without a login."""
    monkeypatch.setattr(login_check, "MongoClient", mongod.connect)
    with patch_module_args(args), pytest.raises(SystemExit):
        login_check.main()
    assert mongod.open == 0 and mongod.anonymous() == []
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check mode"])
def test_the_current_password_wins_and_nothing_else_is_tried(check_mode, monkeypatch, capsys):
    mongod = Mongod({"admin": "new-admin-password"})
    result = check(mongod, {**ADMIN, "_ansible_check_mode": check_mode}, monkeypatch, capsys)
    assert (result["login"], result["authenticated"], result["changed"]) == ("current", True, False)
    assert mongod.passwords_tried() == ["new-admin-password"] and "refused" not in result


def test_the_previous_password_counts_only_once_the_current_one_is_refused(monkeypatch, capsys):
    mongod = Mongod({"admin": "old-admin-password"})
    result = check(mongod, ADMIN, monkeypatch, capsys)
    assert (result["login"], result["authenticated"], result["changed"]) == ("previous", False, False)
    assert mongod.passwords_tried() == ["new-admin-password", "old-admin-password"]
    assert "refused" not in result


@pytest.mark.parametrize(
    ("users", "previous", "tried", "words"),
    [
        (
            {"admin": "someone-elses-password"},
            "old-admin-password",
            ["new-admin-password", "old-admin-password"],
            ["neither mongodb_admin_password nor mongodb_admin_previous_password", "as admin"],
        ),
        (
            {"admin": "someone-elses-password"},
            "",
            ["new-admin-password"],
            ["mongodb_admin_password does not log in as admin", "set the current one in mongodb_admin_previous"],
        ),
        # No user yet: the same answer; users.yml then creates the administrator without a login.
        ({}, "", ["new-admin-password"], ["mongodb_admin_password does not log in as admin"]),
    ],
    ids=["both refused", "no previous password", "no user yet"],
)
def test_when_no_password_logs_in_the_answer_is_none_with_a_message_naming_the_variables(
    users, previous, tried, words, monkeypatch, capsys
):
    mongod = Mongod(users)
    result = check(mongod, {**ADMIN, "previous_password": previous}, monkeypatch, capsys)
    assert (result["login"], result["authenticated"], result["changed"]) == ("none", False, False)
    assert not result.get("failed", False)
    for word in words:
        assert word in result["refused"]
    # An empty previous password is no password to try.
    assert mongod.passwords_tried() == tried
    output = json.dumps(result)
    for password in PASSWORDS:
        assert password not in output


def test_the_check_never_asks_whether_mongod_has_users(monkeypatch, capsys):
    result = check(Mongod({}), {**ADMIN, "localhost_exception": True}, monkeypatch, capsys)
    assert result["failed"] and "localhost_exception" in result["msg"]
    assert not hasattr(login_check, "has_no_user")


def test_the_documentation_names_every_option_and_every_answer(monkeypatch, capsys):
    documentation = yaml.safe_load(login_check.DOCUMENTATION)
    assert set(documentation["options"]) == {*shared.LOGIN_ARGUMENT_SPEC, "previous_password"}
    answers = set()
    for users in ({"admin": "new-admin-password"}, {}):
        result = check(Mongod(users), ADMIN, monkeypatch, capsys)
        answers |= result.keys() - {"changed", "invocation"}
    assert answers == set(yaml.safe_load(login_check.RETURN))


def test_the_decision_asks_mongod_no_more_than_needed():
    asked = []

    def logs_in(password):
        asked.append(password)
        return password == "works"

    def decide(password, previous):
        asked.clear()
        return login_check.which_login(logs_in, password, previous), list(asked)

    assert decide("works", "old") == ("current", ["works"])
    assert decide("works", "works") == ("current", ["works"])
    assert decide("new", "works") == ("previous", ["new", "works"])
    assert decide("new", "old") == ("none", ["new", "old"])
    assert decide("new", "") == ("none", ["new"])
