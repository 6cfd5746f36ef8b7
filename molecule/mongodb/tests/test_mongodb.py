"""The whole mongodb role with a running mongod on mongodb-hub: what a client on a worker may and may not do
over TLS, that an outsider gets no answer, and that a certificate renewal reaches mongod without a restart.
Runs where MongoDB's packages can be had (molecule/_platform/preconditions/mongodb.sh).
"""

import pytest
from checks import NO_ANSWER, connect, inventory_vars, probe

HUB, WORKER, OUTSIDER = "mongodb-hub", "mongodb-worker", "mongodb-outsider"
# The client's driver, in a virtualenv of its own on the worker: the
# distribution's python3-pymongo is 3.x, older than mongod 8.0 accepts.
CLIENT_VENV = "/opt/verify-mongodb"
PYMONGO = "pymongo==4.10.1"


@pytest.fixture(scope="module")
def outcomes(hosts, inventory):
    worker = hosts(WORKER)
    worker.check_output("apt-get install -y -q python3-venv")
    if not worker.file(f"{CLIENT_VENV}/bin/python").exists:
        worker.check_output(f"python3 -m venv {CLIENT_VENV}")
    worker.check_output(f"{CLIENT_VENV}/bin/pip install -q {PYMONGO}")
    fleet = inventory_vars(inventory, WORKER)
    args = {
        "host": HUB,
        "ca": "/etc/celery-fleet/tls/ca.pem",
        "user": "celery",
        "password": fleet["fleet_mongodb_password"],
        "database": "celery",
    }
    return probe(WORKER, "mongodb_client", args, python=f"{CLIENT_VENV}/bin/python")


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        ("tls_ping", "ok"),
        ("app_insert", "ok"),
        ("app_find", "ok"),
        ("app_read_reporting", "ok"),
        ("anonymous_list_databases", "unauthorized"),
        ("app_write_reporting", "unauthorized"),
        ("app_write_other", "unauthorized"),
        ("wrong_password", "auth_failed"),
    ],
)
def test_a_worker_gets_what_the_app_user_may_do_and_nothing_else(outcomes, attempt, expected):
    assert outcomes[attempt] == expected


def test_plaintext_is_refused(outcomes):
    assert outcomes["plaintext_ping"] != "ok"


def test_results_expire_after_a_day(outcomes):
    assert outcomes["ttl"] == [86400]


def test_an_outsider_gets_no_answer(hosts):
    assert connect(hosts(OUTSIDER), HUB, 27017) == NO_ANSWER


def test_a_certificate_renewal_reaches_mongod_without_a_restart(hosts):
    hub = hosts(HUB)
    before = hub.check_output("systemctl show --property MainPID --value mongod")
    hub.check_output("/etc/celery-fleet/tls/reload.d/50-mongodb")
    assert hub.check_output("systemctl show --property MainPID --value mongod") == before
    journal = hub.check_output("journalctl --identifier celery-fleet --grep mongodb --no-pager --output cat")
    assert "rotated without restart" in journal.splitlines()[-1]
