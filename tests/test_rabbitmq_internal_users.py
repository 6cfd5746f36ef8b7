"""The rabbitmq role's user module: hashes as RabbitMQ stores them, and what a run changes.

The plan decides what the broker is sent; the scenario (molecule/rabbitmq)
proves the broker accepts it and that no password reaches a command line.
"""

import base64
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parent.parent / "roles/rabbitmq/library/rabbitmq_internal_users.py"
spec = importlib.util.spec_from_file_location("rabbitmq_internal_users", MODULE)
users = importlib.util.module_from_spec(spec)
spec.loader.exec_module(users)

# RabbitMQ's documented example: password "test12" with the salt 908DC60A
# (https://www.rabbitmq.com/docs/passwords#computing-password-hash, SHA-256).
SALT = bytes.fromhex("908DC60A")
NEW = "rabbit_password_hashing_sha256"


def stored(password: str, algorithm: str = "rabbit_password_hashing_sha256") -> str:
    return users.password_hash(password, SALT, algorithm)


def test_the_hash_is_base64_of_salt_and_digest_of_salt_and_password():
    assert stored("test12") == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"  # the guide's result
    raw = base64.b64decode(stored("test12"))
    assert raw[:4] == SALT
    assert raw[4:] == hashlib.sha256(SALT + b"test12").digest()


@pytest.mark.parametrize(
    "algorithm", ["rabbit_password_hashing_sha256", "rabbit_password_hashing_sha512", "rabbit_password_hashing_md5"]
)
def test_a_stored_hash_matches_its_password_only(algorithm):
    hashed = stored("s3cret é", algorithm)
    assert users.password_matches("s3cret é", hashed, algorithm)
    assert not users.password_matches("s3cret", hashed, algorithm)


def test_an_unknown_algorithm_or_an_empty_hash_never_matches():
    assert not users.password_matches("x", stored("x"), "rabbit_password_hashing_unknown")
    assert not users.password_matches("x", "", "rabbit_password_hashing_sha256")


def wanted(password="app-password", tags=(), configure=".*"):
    return [
        {
            "name": "celery",
            "password": password,
            "tags": list(tags),
            "permissions": [{"vhost": "celery", "configure": configure, "write": ".*", "read": ".*"}],
        }
    ]


def definitions(password="app-password", tags=(), configure=".*"):
    return {
        "users": [
            {
                "name": "celery",
                "password_hash": stored(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": list(tags),
                "limits": {},
            },
            {"name": "other", "password_hash": stored("x"), "hashing_algorithm": "rabbit_password_hashing_sha256"},
        ],
        "permissions": [{"user": "celery", "vhost": "celery", "configure": configure, "write": ".*", "read": ".*"}],
    }


def test_an_unchanged_user_is_left_alone():
    assert users.plan(wanted(), definitions()) == ([], {"users": [], "permissions": []})


def test_a_new_user_is_created_with_a_fresh_salted_hash():
    changed, doc = users.plan(wanted(), {"users": [], "permissions": []})
    assert changed == ["celery"]
    entry = doc["users"][0]
    assert entry["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert users.password_matches("app-password", entry["password_hash"], entry["hashing_algorithm"])
    assert doc["permissions"] == [{"user": "celery", "vhost": "celery", "configure": ".*", "write": ".*", "read": ".*"}]


def test_a_changed_password_gets_a_new_hash():
    changed, doc = users.plan(wanted(password="new-password"), definitions())
    assert changed == ["celery"]
    assert users.password_matches("new-password", doc["users"][0]["password_hash"], NEW)
    assert not users.password_matches("app-password", doc["users"][0]["password_hash"], NEW)


@pytest.mark.parametrize("change", [{"tags": ["monitoring"]}, {"configure": "^$"}])
def test_changed_tags_or_permissions_keep_the_stored_hash(change):
    current = definitions()
    changed, doc = users.plan(wanted(**change), current)
    assert changed == ["celery"]
    assert doc["users"][0]["password_hash"] == current["users"][0]["password_hash"]


def test_tags_exported_as_a_string_are_understood():
    current = definitions(tags=["monitoring"])
    current["users"][0]["tags"] = "monitoring"
    assert users.plan(wanted(tags=["monitoring"]), current)[0] == []


def test_no_plan_ever_holds_a_password_in_clear():
    _, doc = users.plan(wanted(password="do-not-show-me"), {"users": [], "permissions": []})
    assert "do-not-show-me" not in repr(doc)


def test_only_unlisted_users_under_the_prefix_are_stale():
    listed = [{"name": "worker-a~2"}, {"name": "worker-b"}]
    names = ["celery", "worker-a", "worker-a~2", "worker-b", "worker-gone", "reports"]
    assert users.stale(listed, names, "worker-") == ["worker-a", "worker-gone"]


def test_no_prefix_leaves_every_unlisted_user_alone():
    assert users.stale([], ["worker-a", "celery"], "") == []


def test_absent_users_are_stale_when_present_and_unlisted():
    names = ["guest", "flower", "celery", "worker-a"]
    assert users.stale([{"name": "celery"}], names, "", ("guest", "flower", "nobody")) == ["flower", "guest"]
    # A user both listed and named absent stays: the list wins.
    assert users.stale([{"name": "flower"}], names, "", ("flower",)) == []


class Broker:
    """rabbitmqctl as the module runs it: connections listed, some of which end by themselves."""

    def __init__(self, listings, close_rc=0):
        self.listings, self.close_rc, self.calls = list(listings), close_rc, []

    def run_command(self, argv):
        self.calls.append(argv)
        if "list_connections" in argv:
            listing = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
            return 0, json.dumps(listing), ""
        return self.close_rc, "", "Error: the connection process is gone" if self.close_rc else ""

    def fail_json(self, msg):
        raise AssertionError(msg)

    check_mode = False


def test_a_stale_users_connections_are_closed_and_an_already_gone_one_is_no_failure(monkeypatch):
    monkeypatch.setattr(users.time, "sleep", lambda _seconds: None)
    gone = [{"user": "worker-old", "pid": "<rabbit@hub.1.2.3>"}, {"user": "worker-new", "pid": "<rabbit@hub.1.2.4>"}]
    # The close fails (the connection was ending), and the next listing no longer has it.
    broker = Broker([gone, gone[1:]], close_rc=69)
    assert users.close_stale_connections(broker, ["rabbitmqctl"], [{"name": "worker-new"}], "worker-") == 1
    closed = [argv for argv in broker.calls if "close_connection" in argv]
    assert [argv[2] for argv in closed] == ["<rabbit@hub.1.2.3>"]


def test_a_stale_connection_that_stays_open_fails_naming_its_user(monkeypatch):
    monkeypatch.setattr(users.time, "sleep", lambda _seconds: None)
    broker = Broker([[{"user": "worker-old", "pid": "<rabbit@hub.1.2.3>"}]], close_rc=69)
    with pytest.raises(AssertionError, match="worker-old"):
        users.close_stale_connections(broker, ["rabbitmqctl"], [], "worker-")


def test_a_revoked_workers_attempts_to_log_in_again_are_not_connections_to_close(monkeypatch):
    monkeypatch.setattr(users.time, "sleep", lambda _seconds: None)
    trying = [{"user": "worker-old", "pid": "<rabbit@hub.1.2.9>", "state": "starting"}]
    broker = Broker([trying])
    assert users.close_stale_connections(broker, ["rabbitmqctl"], [], "worker-") == 0
    assert [argv for argv in broker.calls if "close_connection" in argv] == []
