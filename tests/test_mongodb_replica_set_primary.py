"""The replica set's wait for its primary (library/mongodb_replica_set_primary.py) and its members (a filter).

mongod's side is a stand-in that answers `hello` as a member would at each
step of an election; the clock is the test's, so no test sleeps.
"""

import json
import sys

import pytest
from ansible.module_utils.testing import patch_module_args
from pymongo.errors import ServerSelectionTimeoutError
from role_code import load

# The module imports its shared code the way Ansible ships it to a host.
sys.modules["ansible.module_utils.celery_fleet_mongodb"] = load("roles/mongodb/module_utils/celery_fleet_mongodb.py")
primary = load("roles/mongodb/library/mongodb_replica_set_primary.py")
settings = load("roles/mongodb/filter_plugins/mongodb_settings.py")

SET = "celery-fleet"
NO_CONFIG = {"isWritablePrimary": False, "secondary": False, "isreplicaset": True}
SECONDARY = {"setName": SET, "isWritablePrimary": False, "secondary": True, "me": "hub1:27017", "primary": "hub2:27017"}
ELECTING = {"setName": SET, "isWritablePrimary": False, "secondary": True, "me": "hub1:27017"}
PRIMARY = {"setName": SET, "isWritablePrimary": True, "me": "hub1:27017", "primary": "hub1:27017"}
STANDALONE = {"isWritablePrimary": True}


class Clock:
    """Time that passes only when the module sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Member:
    """A mongod that gives the next of its answers to each hello; the last one again once they run out."""

    def __init__(self, *answers, error=None):
        self.answers, self.error = list(answers), error
        self.asked, self.closed = [], False

    def __getitem__(self, database):
        assert database == "admin"
        return self

    def command(self, name):
        self.asked.append(name)
        if self.error:
            raise self.error
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def close(self):
        self.closed = True


ARGS = {"replica_set": SET, "tls_ca_file": "/etc/celery-fleet/tls/ca.pem", "tls_allow_invalid_hostnames": True}


def run(member, monkeypatch, capsys, **args):
    """Run the module's main() as Ansible would: its JSON result and the options it connected with."""
    seen = {}

    def connect(**options):
        seen.update(options)
        return member

    clock = Clock()
    monkeypatch.setattr(primary, "MongoClient", connect)
    monkeypatch.setattr(primary.time, "monotonic", clock)
    monkeypatch.setattr(primary.time, "sleep", clock.sleep)
    with patch_module_args({**ARGS, **args}), pytest.raises(SystemExit):
        primary.main()
    return json.loads(capsys.readouterr().out), seen


def test_a_primary_is_reported_at_once_and_nothing_changes(monkeypatch, capsys):
    member = Member(PRIMARY)
    result, _ = run(member, monkeypatch, capsys)
    assert not result.get("failed") and result["changed"] is False
    assert (result["me"], result["primary"], result["waited"]) == ("hub1:27017", "hub1:27017", 0)
    assert member.asked == ["hello"] and member.closed


def test_hello_is_asked_without_a_login_directly_over_tls(monkeypatch, capsys):
    # Before the first user exists there is no login to give (the localhost exception).
    _, seen = run(Member(PRIMARY), monkeypatch, capsys)
    assert "username" not in seen and "password" not in seen
    assert (seen["host"], seen["port"], seen["directConnection"]) == ("127.0.0.1", 27017, True)
    assert (seen["tls"], seen["tlsCAFile"], seen["tlsAllowInvalidHostnames"]) == (
        True,
        "/etc/celery-fleet/tls/ca.pem",
        True,
    )


def test_a_new_set_is_waited_for_through_its_election(monkeypatch, capsys):
    member = Member(NO_CONFIG, ELECTING, ELECTING, PRIMARY)
    result, _ = run(member, monkeypatch, capsys)
    assert not result.get("failed")
    assert len(member.asked) == 4 and result["waited"] == 3 * primary.INTERVAL


def test_a_hub_that_stays_secondary_fails_naming_the_primary(monkeypatch, capsys):
    result, _ = run(Member(SECONDARY), monkeypatch, capsys, timeout=10)
    assert result["failed"] and result["waited"] >= 10
    assert "hub1:27017 is not the primary of replica set celery-fleet" in result["msg"]
    assert "primary: hub2:27017" in result["msg"] and result["primary"] == "hub2:27017"


def test_no_primary_elected_is_said_so(monkeypatch, capsys):
    result, _ = run(Member(ELECTING), monkeypatch, capsys, timeout=4)
    assert result["failed"] and "primary: none elected" in result["msg"]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({**PRIMARY, "setName": "rs0"}, ["replica set rs0, not celery-fleet", "mongodb_replica_set_name"]),
        (STANDALONE, ["without a replica set", "replication.replSetName"]),
    ],
    ids=["another set", "standalone"],
)
def test_the_wrong_mongod_fails_at_once(answer, words, monkeypatch, capsys):
    member = Member(answer)
    result, _ = run(member, monkeypatch, capsys)
    assert result["failed"] and result["waited"] == 0 and len(member.asked) == 1
    for word in words:
        assert word in result["msg"]


def test_an_unreachable_mongod_fails_naming_where_it_was_asked(monkeypatch, capsys):
    member = Member(error=ServerSelectionTimeoutError("127.0.0.1:27017: connection refused"))
    result, _ = run(member, monkeypatch, capsys, login_port=27018)
    assert result["failed"] and result["msg"].startswith("Cannot ask mongod on 127.0.0.1:27018 whether it is primary")
    assert member.closed


def test_check_mode_asks_too(monkeypatch, capsys):
    # It only reads: a check run (--check) still learns whether writes would be taken.
    result, _ = run(Member(PRIMARY), monkeypatch, capsys, _ansible_check_mode=True)
    assert not result.get("failed") and result["changed"] is False


def test_the_documented_options_are_the_accepted_ones():
    import yaml

    documented = yaml.safe_load(primary.DOCUMENTATION)["options"]
    shared = sys.modules["ansible.module_utils.celery_fleet_mongodb"].CONNECTION_ARGUMENT_SPEC
    assert set(documented) == {*shared, "replica_set", "timeout"}


def test_the_members_are_every_hub_with_the_first_preferred():
    members = settings.mongodb_replica_set_members(["hub1.example.org", "hub2.example.org", "hub3"], "27017")
    assert members == [
        {"host": "hub1.example.org:27017", "priority": 2},
        {"host": "hub2.example.org:27017", "priority": 1},
        {"host": "hub3:27017", "priority": 1},
    ]
    assert settings.FilterModule().filters()["mongodb_replica_set_members"] is settings.mongodb_replica_set_members
