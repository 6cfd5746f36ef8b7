"""The users the rabbitmq role hands rabbitmq_internal_users (vars/main.yml, rabbitmq_managed_users)."""

import copy

import pytest
from role_code import load

users = load("roles/rabbitmq/filter_plugins/rabbitmq_users.py")

APP = {
    "name": "celery",
    "password": "app-canary-7f3a",
    "tags": ["monitoring"],
    "vhost": "celery",
    "configure_priv": "^celery.*",
    "write_priv": ".*",
    "read_priv": "^$",
}
# fleet_worker_accounts | fleet_logins('broker')
WORKERS = [{"name": "worker-w1", "password": "w1-canary"}, {"name": "worker-w2", "password": "w2-canary"}]
FLOWER = {
    "name": "flower",
    "password": "flower-canary",
    "vhost": "celery",
    "configure_priv": "^(celeryev|celeryev\\..+)$",
    "write_priv": "^(celeryev\\..+)$",
    "read_priv": "^(celeryev|celeryev\\..+)$",
    "tags": [],
}
# rabbitmq_extra_users, its regexes and tags left out.
REPORTING = {"name": "reporting", "password": "reporting-canary", "vhost": "reports"}


def permissions(vhost, configure=".*", write=".*", read=".*"):
    return [{"vhost": vhost, "configure": configure, "write": write, "read": read}]


def test_the_app_user_then_the_workers_then_the_others_in_order():
    entries = users.rabbitmq_user_entries(APP, WORKERS, [FLOWER, REPORTING])
    assert [entry["name"] for entry in entries] == ["celery", "worker-w1", "worker-w2", "flower", "reporting"]
    assert entries[0] == {
        "name": "celery",
        "password": "app-canary-7f3a",
        "tags": ["monitoring"],
        "permissions": permissions("celery", "^celery.*", ".*", "^$"),
    }
    assert entries[3]["permissions"] == permissions(
        "celery", "^(celeryev|celeryev\\..+)$", "^(celeryev\\..+)$", "^(celeryev|celeryev\\..+)$"
    )
    # The module's keys, in this order.
    assert all(list(entry) == ["name", "password", "tags", "permissions"] for entry in entries)


def test_a_worker_has_the_app_users_permissions_its_own_password_and_no_tag():
    entries = users.rabbitmq_user_entries(APP, WORKERS, [])
    assert entries[2] == {
        "name": "worker-w2",
        "password": "w2-canary",
        "tags": [],
        "permissions": permissions("celery", "^celery.*", ".*", "^$"),
    }


def test_an_extra_user_without_regexes_or_tags_gets_everything_on_its_vhost_and_no_tag():
    (*_, reporting) = users.rabbitmq_user_entries(APP, [], [REPORTING])
    assert reporting == {
        "name": "reporting",
        "password": "reporting-canary",
        "tags": [],
        "permissions": permissions("reports"),
    }


def test_no_workers_and_no_others_leave_the_app_user_alone():
    assert [entry["name"] for entry in users.rabbitmq_user_entries(APP, [], [])] == ["celery"]


def test_the_inputs_are_left_as_they_were():
    before = copy.deepcopy([APP, WORKERS, FLOWER])
    users.rabbitmq_user_entries(APP, WORKERS, [FLOWER])
    assert [APP, WORKERS, FLOWER] == before


@pytest.mark.parametrize("missing", ["password", "vhost"])
def test_a_user_missing_a_key_is_named_without_its_password(missing):
    broken = {key: value for key, value in REPORTING.items() if key != missing}
    with pytest.raises(ValueError, match=f"'reporting' has no '{missing}'") as error:
        users.rabbitmq_user_entries(APP, WORKERS, [broken])
    assert "canary" not in str(error.value)
