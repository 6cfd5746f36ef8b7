"""The Celery settings the fleet role renders for a worker and for the operator, executed as Python.

The template is rendered with Jinja2 and Ansible's own core filters for
each result backend, then run: the values a worker would
load are checked, and a password full of URL-special characters must come
out quoted in the broker URL and intact in the backend settings.
"""

import importlib.util
import ssl
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
import pytest
from ansible.plugins.filter.core import FilterModule
from ansible.plugins.test.core import TestModule as AnsibleTests

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "roles/fleet/templates/celeryconfig.py.j2"
_spec = importlib.util.spec_from_file_location("fleet_celery", ROOT / "roles/fleet/filter_plugins/fleet_celery.py")
fleet_celery = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_celery)
PASSWORD = "p@ss:w/rd?#%&'\"\\ é"

BASE = {
    "ansible_managed": "Managed by Ansible",
    "fleet_celery_settings_for": "a test",
    "fleet_celery_settings_celery_version": "5.6.3",
    "fleet_celery_settings_broker_host": "hub.example.org",
    "fleet_celery_settings_broker_plaintext": False,
    "fleet_celery_settings_mongodb_host": "hub.example.org",
    # Not given: the fleet's ports (the roles leave them out; Ansible's default() needs a value here).
    "fleet_celery_settings_broker_port": None,
    "fleet_celery_settings_mongodb_port": None,
    # Not given: the operator's user and password (a worker gives its own, tested below).
    "fleet_celery_settings_broker_user": None,
    "fleet_celery_settings_broker_password": None,
    "fleet_celery_settings_mongodb_user": None,
    "fleet_celery_settings_mongodb_password": None,
    "fleet_celery_settings_ca_file": "/etc/celery-fleet/tls/ca.pem",
    "fleet_celery_settings_result_backend": None,
    "fleet_celery_settings_worker": {
        "acks_late": True,
        "prefetch_multiplier": 1,
        "soft_time_limit": 600,
        "kill_grace": 30,
    },
    "fleet_broker_user": "celery",
    "fleet_broker_password": PASSWORD,
    "fleet_broker_tls_port": 5671,
    "fleet_broker_plaintext_port": 5672,
    "fleet_broker_vhost": "celery",
    "fleet_broker_heartbeat": 60,
    "fleet_broker_confirm_publish": True,
    "fleet_mongodb_port": 27017,
    "fleet_mongodb_user": "celery",
    "fleet_mongodb_password": PASSWORD,
    "fleet_mongodb_database": "results",
    "fleet_result_expires": 3600,
    "fleet_result_backend": "rpc",
    "fleet_celery_extra_settings": {},
    "fleet_celery_queue_type": "quorum",
    "fleet_monitoring": False,
    "fleet_hub_cluster": False,
    "fleet_broker_hosts": ["hub.example.org"],
    "fleet_mongodb_replica_set": "celery-fleet",
}
CLUSTER = {
    "fleet_hub_cluster": True,
    "fleet_broker_hosts": ["hub1.example.org", "hub2.example.org", "hub3.example.org"],
}


def render(**overrides) -> dict:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
    env.filters.update(FilterModule().filters())
    env.filters.update(fleet_celery.FilterModule().filters())
    env.tests.update(AnsibleTests().tests())
    source = env.from_string(TEMPLATE.read_text()).render(**{**BASE, **overrides})
    settings: dict = {}
    exec(compile(source, "celeryconfig.py", "exec"), settings)
    return {key: value for key, value in settings.items() if not key.startswith("_") and key.islower()}


def test_broker_url_is_amqps_with_the_password_quoted():
    url = urlsplit(render()["broker_url"])
    assert url.scheme == "amqps"
    assert (url.hostname, url.port, url.path) == ("hub.example.org", 5671, "/celery")
    assert unquote(url.password) == PASSWORD
    assert "#" not in url.netloc and "/" not in url.netloc


def test_a_worker_logs_in_as_its_own_user_to_the_broker_and_mongodb():
    own = "w0rker/pass#word"
    settings = render(
        fleet_result_backend="mongodb",
        fleet_celery_settings_broker_user="worker-w1.example.org",
        fleet_celery_settings_broker_password=own,
        fleet_celery_settings_mongodb_user="worker-w1.example.org",
        fleet_celery_settings_mongodb_password=own + "m",
    )
    url = urlsplit(settings["broker_url"])
    assert (unquote(url.username), unquote(url.password)) == ("worker-w1.example.org", own)
    mongo = settings["mongodb_backend_settings"]
    assert (mongo["user"], mongo["password"]) == ("worker-w1.example.org", own + "m")
    # The operator's password is nowhere in a worker's settings.
    assert PASSWORD not in repr(settings)


def test_the_workers_send_task_events_only_while_monitoring_is_on():
    assert "worker_send_task_events" not in render()
    assert render(fleet_monitoring=True)["worker_send_task_events"] is True
    # Only a worker's settings: an operator's or Flower's send no events.
    assert "worker_send_task_events" not in render(fleet_monitoring=True, fleet_celery_settings_worker={})


def test_flowers_settings_hold_no_result_backend_and_no_mongodb_password():
    settings = render(
        fleet_result_backend="mongodb",
        fleet_celery_settings_result_backend="none",
        fleet_celery_settings_broker_user="flower",
        fleet_celery_settings_broker_password="flower-password",
        fleet_celery_settings_worker={},
    )
    assert settings["task_ignore_result"] is True
    assert "mongodb_backend_settings" not in settings and "result_backend" not in settings
    assert PASSWORD not in repr(settings)


def test_broker_certificate_and_host_name_are_verified():
    tls = render()["broker_use_ssl"]
    assert tls["cert_reqs"] == ssl.CERT_REQUIRED
    assert tls["ca_certs"] == "/etc/celery-fleet/tls/ca.pem"
    # None: kombu fills in the URL's host, which turns check_hostname on.
    assert "server_hostname" in tls and tls["server_hostname"] is None


def test_system_trust_store_when_no_ca_file():
    assert "ca_certs" not in render(fleet_celery_settings_ca_file="")["broker_use_ssl"]


def test_plaintext_has_no_tls_settings():
    settings = render(fleet_celery_settings_broker_plaintext=True)
    assert settings["broker_url"].startswith("amqp://")
    assert urlsplit(settings["broker_url"]).port == 5672
    assert "broker_use_ssl" not in settings


def test_reliability_settings():
    settings = render()
    assert settings["task_acks_late"] is True
    assert settings["task_reject_on_worker_lost"] is False
    assert settings["worker_prefetch_multiplier"] == 1
    assert settings["broker_connection_retry_on_startup"] is True
    assert settings["broker_transport_options"] == {"confirm_publish": True}
    assert settings["worker_cancel_long_running_tasks_on_connection_loss"] is True
    assert settings["broker_heartbeat"] == 60
    assert settings["accept_content"] == ["json"]


def test_the_operators_settings_reach_the_same_broker_and_backend_without_the_workers_settings():
    """A process that only sends tasks gets the broker and the backend, not the worker's knobs."""
    worker = render(fleet_result_backend="mongodb")
    operator = render(fleet_result_backend="mongodb", fleet_celery_settings_worker={})
    assert operator["broker_url"] == worker["broker_url"]
    assert operator["mongodb_backend_settings"] == worker["mongodb_backend_settings"]
    assert operator["broker_transport_options"] == {"confirm_publish": True}
    worker_only = {"task_acks_late", "task_soft_time_limit", "task_time_limit", "worker_prefetch_multiplier"}
    assert worker_only <= set(worker)
    assert not worker_only & set(operator)


def test_a_long_task_is_stopped_by_celery_and_a_channel_error_is_retried():
    """The soft limit is the fleet's longest task; the kill follows after the grace."""
    settings = render()
    assert (settings["task_soft_time_limit"], settings["task_time_limit"]) == (600, 630)
    assert settings["broker_channel_error_retry"] is True


def test_control_and_event_queues_are_exclusive():
    """RabbitMQ 4.3 refuses transient queues that are not exclusive."""
    settings = render()
    assert settings["control_queue_exclusive"] is True
    assert settings["event_queue_exclusive"] is True


def test_publisher_confirms_can_be_turned_off():
    assert render(fleet_broker_confirm_publish=False)["broker_transport_options"] == {"confirm_publish": False}


def test_mongodb_backend_uses_tls_and_auth_source():
    settings = render(fleet_result_backend="mongodb")
    assert settings["result_backend"] == "mongodb://"
    mongo = settings["mongodb_backend_settings"]
    assert (mongo["host"], mongo["port"], mongo["user"], mongo["database"]) == (
        "hub.example.org",
        27017,
        "celery",
        "results",
    )
    assert mongo["password"] == PASSWORD
    assert mongo["options"]["authSource"] == "results"
    assert mongo["options"]["tls"] is True
    assert mongo["options"]["tlsCAFile"] == "/etc/celery-fleet/tls/ca.pem"
    assert settings["result_expires"] == 3600


def test_mongodb_backend_has_no_extended_results():
    """With result_extended, a chord whose header task fails raises KeyError('name') on the
    MongoDB backend instead of ChordError (celery#8877, still so in 5.6.3)."""
    assert "result_extended" not in render(fleet_result_backend="mongodb")


def test_rpc_backend():
    settings = render(fleet_result_backend="rpc")
    assert settings["result_backend"] == "rpc://"
    assert "mongodb_backend_settings" not in settings
    assert settings["result_extended"] is True


@pytest.mark.parametrize(
    ("version", "queue_type", "expected"),
    [
        ("5.6.3", "quorum", {"task_default_queue_type": "quorum", "task_create_missing_queue_type": "quorum"}),
        ("5.5.3", "quorum", {"task_default_queue_type": "quorum", "task_create_missing_queue_type": None}),
        ("5.6.3", "classic", {"task_default_queue_type": None, "task_create_missing_queue_type": None}),
        ("5.4.0", "quorum", {"task_default_queue_type": None, "task_create_missing_queue_type": None}),
    ],
)
def test_quorum_queues_on_topic_exchanges_let_the_broker_hold_delayed_tasks(version, queue_type, expected):
    # Native delayed delivery needs a quorum queue and a non-direct exchange (celery/app/base.py, send_task).
    settings = render(fleet_celery_settings_celery_version=version, fleet_celery_queue_type=queue_type)
    assert {key: settings.get(key) for key in expected} == expected
    quorum = expected["task_default_queue_type"] == "quorum"
    assert settings.get("task_default_exchange_type") == ("topic" if quorum else None)


@pytest.mark.parametrize(
    ("version", "queue_type", "reduction"),
    [("5.6.3", "quorum", False), ("5.6.3", "classic", None), ("5.4.0", "quorum", None)],
)
def test_a_worker_on_quorum_queues_keeps_its_whole_prefetch_after_a_reconnect(version, queue_type, reduction):
    # celery#9512: the lowered prefetch is never raised back on a consumer with per-consumer QoS.
    settings = render(fleet_celery_settings_celery_version=version, fleet_celery_queue_type=queue_type)
    assert settings.get("worker_enable_prefetch_count_reduction") is reduction
    operator = render(fleet_celery_settings_worker={})
    assert "worker_enable_prefetch_count_reduction" not in operator


def test_no_backend_ignores_results():
    settings = render(fleet_result_backend="none")
    assert "result_backend" not in settings
    assert settings["task_ignore_result"] is True


@pytest.mark.parametrize("backend", ["mongodb", "rpc", "none"])
def test_every_setting_is_a_celery_setting(backend):
    """Names must be Celery 5.6's own (a typo is silently ignored by Celery)."""
    defaults = pytest.importorskip("celery.app.defaults", reason="celery is not installed in this virtualenv")
    known = {key for key, _ in defaults.flatten(defaults.NAMESPACES)}
    unknown = set(render(fleet_result_backend=backend)) - known - {"ssl", "quote"}
    assert not unknown


def test_the_apps_own_settings_come_last_as_python_values():
    extra = {
        "task_routes": {"crawler.tasks.fetch": {"queue": "crawl"}},
        "beat_schedule": {"tick": {"task": "crawler.tasks.tick", "schedule": 5.0, "args": [1, None, True]}},
        "task_default_queue": 'it\'s "quoted"',
        "worker_max_tasks_per_child": 100,
    }
    settings = render(fleet_celery_extra_settings=extra)
    assert {key: settings[key] for key in extra} == extra
    # Read by Celery like any other setting.
    assert settings["broker_url"].startswith("amqps://")


def test_a_client_that_reaches_the_hub_through_a_tunnel_uses_its_own_ports():
    settings = render(
        fleet_result_backend="mongodb",
        fleet_celery_settings_broker_port=15671,
        fleet_celery_settings_mongodb_port=37017,
    )
    assert urlsplit(settings["broker_url"]).port == 15671
    assert settings["mongodb_backend_settings"]["port"] == 37017


def test_a_cluster_lists_every_node_in_turn_and_the_backend_every_member():
    settings = render(fleet_result_backend="mongodb", **CLUSTER)
    urls = [urlsplit(url) for url in settings["broker_url"].split(";")]
    assert [(url.scheme, url.hostname, url.port) for url in urls] == [
        ("amqps", f"hub{n}.example.org", 5671) for n in (1, 2, 3)
    ]
    assert all(unquote(url.password) == PASSWORD for url in urls)
    assert settings["broker_failover_strategy"] == "round-robin"
    mongo = settings["mongodb_backend_settings"]
    assert mongo["host"] == [f"hub{n}.example.org:27017" for n in (1, 2, 3)]
    assert mongo["options"] | {"replicaSet": "celery-fleet", "w": "majority", "retryWrites": True} == mongo["options"]


def names_checked_on_failover(monkeypatch, ssl_settings_of) -> list:
    """The server names the TLS layer gets as kombu fails over from one loopback node to the other."""
    kombu = pytest.importorskip("kombu", reason="kombu is not installed in this virtualenv")
    transport = pytest.importorskip("amqp.transport")
    import socket

    listeners = []
    for address in ("127.0.0.1", "127.0.0.2"):
        listener = socket.socket()
        listener.bind((address, listeners[0].getsockname()[1] if listeners else 0))
        listener.listen(4)
        listeners.append(listener)
    checked = []

    def wrap(self, sock, **options):
        checked.append(options["server_hostname"])
        raise ssl.SSLError("stop once the name is known")

    monkeypatch.setattr(transport.SSLTransport, "_wrap_socket_sni", wrap)
    settings = render(fleet_broker_hosts=["127.0.0.1", "127.0.0.2"], fleet_hub_cluster=True)
    urls = settings["broker_url"].replace(":5671/", f":{listeners[0].getsockname()[1]}/")
    connection = kombu.Connection(urls, ssl=ssl_settings_of(settings), connect_timeout=2)
    try:
        with pytest.raises(ssl.SSLError):
            connection.connect()
    finally:
        for listener in listeners:
            listener.close()
    return checked[:2]


def test_failover_checks_each_nodes_own_name(monkeypatch):
    """kombu writes the first host into server_hostname and keeps it: the cluster's settings make each node's
    name the one checked, with the kombu and py-amqp installed here."""
    assert names_checked_on_failover(monkeypatch, lambda settings: settings["broker_use_ssl"]) == [
        "127.0.0.1",
        "127.0.0.2",
    ]


def test_a_plain_dict_would_check_every_node_against_the_first(monkeypatch):
    """The failure the cluster's settings prevent, with kombu as installed: when this stops happening,
    the subclass in the settings is no longer needed."""
    assert names_checked_on_failover(monkeypatch, lambda settings: dict(settings["broker_use_ssl"])) == [
        "127.0.0.1",
        "127.0.0.1",
    ]
