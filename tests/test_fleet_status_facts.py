"""How tasks/status_report.yml collects the fleet_status_* facts of the play's hosts for the fleet_status filter."""

from hostvars import HostVars
from role_code import load

fleet_status = load("roles/fleet/filter_plugins/fleet_status.py")

WORKER = {"units": [], "ping": {}, "celery_version": "5.6.3", "celery_version_error": "", "queues": ["celery"]}
BROKER = {"service": {"name": "rabbitmq-server.service"}, "version": "3.10.8"}
TLS = {"mode": "private_ca", "renew_days": 30, "certificates": [], "renewal": None}
MONGODB = {"service": {"name": "mongod.service"}, "version": "8.0.4", "port": 27017, "listening": True}

HOSTVARS = HostVars(
    {
        # Set in another order than the report's; other variables are no part.
        "hub": {
            "fleet_status_tls": TLS,
            "fleet_status_mongodb": MONGODB,
            "fleet_status_rabbitmq": BROKER,
            "fleet_status_flower": {"service": {}},
            "ansible_host": "203.0.113.5",
        },
        "worker1": {"fleet_status_celery_worker": WORKER, "status_connection": {"ping": "pong"}},
        # Unreachable: its status tasks never ran.
        "worker2": {"status_connection": {"unreachable": True}},
    }
)


def test_each_host_has_the_parts_it_set_in_the_reports_order():
    facts = fleet_status.fleet_status_facts(["worker1", "hub", "worker2"], HOSTVARS)
    assert facts == {
        "worker1": {"celery_worker": WORKER},
        "hub": {"rabbitmq": BROKER, "mongodb": MONGODB, "tls": TLS},
        "worker2": {},
    }
    assert list(facts) == ["worker1", "hub", "worker2"]
    assert list(facts["hub"]) == ["rabbitmq", "mongodb", "tls"]


def test_a_host_the_inventory_lacks_has_no_parts():
    assert fleet_status.fleet_status_facts(["not-in-inventory"], HOSTVARS) == {"not-in-inventory": {}}


def test_a_part_set_to_null_is_still_collected():
    # As `is defined` saw it; the fleet_status filter drops it.
    assert fleet_status.fleet_status_facts(["hub"], HostVars({"hub": {"fleet_status_mongodb": None}})) == {
        "hub": {"mongodb": None}
    }


def test_the_collected_facts_make_the_report():
    facts = fleet_status.fleet_status_facts(["worker1", "worker2"], HOSTVARS)
    report = fleet_status.fleet_status(facts, now="2026-12-01T12:00:00")
    assert "PROBLEM worker2: unreachable: nothing was read" in report["problems"]
