"""Bad input fails before any host is touched, with a message naming the fix.

The inventories here point at addresses nothing listens on (TEST-NET-1, port
1): if a check let a run through, the run would stop at an unreachable host
instead of changing anything.
"""

import subprocess
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent


def write_inventory(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(body)
    return path


HOSTS = """
all:
  vars:
    ansible_host: 192.0.2.1
    ansible_port: 1
    ansible_ssh_common_args: -o ConnectTimeout=2
{extra}
  children:
    hub:
      hosts:
        {hub}
    workers:
      hosts:
        w1:
"""


def run(playbook: str, inventory: Path) -> subprocess.CompletedProcess:
    return ansible_playbook("-i", str(inventory), playbook)


FLEET_VARS = "    fleet_network_profile: public\n    fleet_operator_sources: []\n"
PRIVATE_PLAINTEXT = (
    "    fleet_network_profile: private\n    fleet_private_subnet: 10.0.0.0/8\n"
    "    fleet_operator_sources: []\n    fleet_broker_plaintext: true\n"
)


@pytest.mark.parametrize("playbook", ["site.yml", "workers.yml"])
def test_missing_fleet_settings_are_named(tmp_path, playbook):
    result = run(playbook, write_inventory(tmp_path, HOSTS.format(extra="", hub="hub1:")))
    assert result.returncode != 0
    assert "fleet_network_profile" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_workers_without_a_hub_are_refused(tmp_path):
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=FLEET_VARS, hub="")))
    assert result.returncode != 0
    assert "The group `hub` has 0 hosts (); it needs one, or three for a cluster" in result.stdout
    assert "UNREACHABLE" not in result.stdout


@pytest.mark.parametrize("hubs", [["hub1", "hub2"], ["hub1", "hub2", "hub3", "hub4"]])
def test_a_cluster_of_two_or_four_hubs_is_refused(tmp_path, hubs):
    inventory = HOSTS.format(extra=FLEET_VARS, hub="\n        ".join(f"{hub}:" for hub in hubs))
    result = run("site.yml", write_inventory(tmp_path, inventory))
    assert result.returncode != 0
    assert f"The group `hub` has {len(hubs)} hosts ({', '.join(hubs)}); it needs one, or three" in result.stdout
    assert "UNREACHABLE" not in result.stdout


@pytest.mark.parametrize(
    ("hubs", "extra", "named"),
    [
        (["hub1", "hub2", "hub3"], PRIVATE_PLAINTEXT, "fleet_broker_plaintext"),
        (["hub1.example.org", "hub2", "hub3"], FLEET_VARS, "hub1.example.org, hub2, hub3"),
    ],
    ids=["plaintext", "short and long names"],
)
def test_a_cluster_takes_amqps_only_and_one_kind_of_name(tmp_path, hubs, extra, named):
    inventory = HOSTS.format(extra=extra, hub="\n        ".join(f"{hub}:" for hub in hubs))
    result = run("site.yml", write_inventory(tmp_path, inventory))
    assert result.returncode != 0
    assert "Three hubs make a cluster" in result.stdout and named in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_a_wrongly_typed_role_variable_is_named(tmp_path):
    extra = FLEET_VARS + "    common_firewall_ssh_port: not-a-port\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub="hub1:")))
    assert result.returncode != 0
    assert "common_firewall_ssh_port" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_a_firewall_source_that_is_not_an_address_is_named(tmp_path):
    extra = FLEET_VARS + "    common_firewall_ssh_sources: [my-laptop.example]\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub="hub1:")))
    assert result.returncode != 0
    assert "common_firewall_ssh_sources" in result.stdout
    assert "my-laptop.example" in result.stdout
    assert "UNREACHABLE" not in result.stdout


@pytest.mark.parametrize("where", ["group all", "the hub's host vars"])
def test_a_staging_acme_ca_without_its_root_is_refused_naming_both(tmp_path, where):
    acme = {"tls_mode": "acme", "tls_acme_server": "letsencrypt_test", "tls_acme_domain": "hub.example.org"}
    if where == "group all":
        extra = FLEET_VARS + "".join(f"    {key}: {value}\n" for key, value in acme.items())
        hub = "hub1:"
    else:
        extra = FLEET_VARS
        hub = "hub1: {" + ", ".join(f"{key}: {value}" for key, value in acme.items()) + "}"
    extra += "    tls_acme_email: ops@example.org\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub=hub)))
    assert result.returncode != 0
    assert "tls_acme_server is letsencrypt_test" in result.stdout and "tls_acme_client_ca_file" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def test_a_private_fleet_without_its_network_is_refused(tmp_path):
    private = "    fleet_network_profile: private\n    fleet_operator_sources: []\n"
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=private, hub="hub1:")))
    assert result.returncode != 0
    assert "fleet_network_profile is private: set fleet_private_subnet" in result.stdout
    assert "UNREACHABLE" not in result.stdout


def app_without_celery(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / "crawler").mkdir(parents=True)
    (app / "crawler" / "__init__.py").write_text("")
    (app / "requirements.txt").write_text("requests==2.32.3\n")
    return app


@pytest.mark.parametrize(
    ("worker_vars", "named"),
    [
        ("{celery_worker_instances: [{name: a}, {name: a}]}", "names a more than once"),
        (
            "{celery_worker_instances: [{name: a, pool: fork}]}",
            "pool is one of prefork, threads, solo, gevent",
        ),
        ("{celery_worker_instances: [{name: a, queue: crawl}]}", "Unknown: queue."),
        ("{celery_worker_environment: {PYTHONPATH: /tmp}}", "may not set what the units set themselves"),
        ("{celery_worker_app: spider}", "celery_worker_app is spider, but celery_worker_app_source"),
        ("{celery_worker_app: crawler, celery_worker_app_source: APP}", "do not ask for Celery: add celery"),
    ],
    ids=[
        "duplicate instance",
        "unknown pool",
        "unknown instance key",
        "reserved variable",
        "no such module",
        "no celery",
    ],
)
def test_a_bad_worker_setting_is_refused_before_any_host_is_touched(tmp_path, worker_vars, named):
    body = HOSTS.format(extra=FLEET_VARS, hub="hub1:").replace(
        "        w1:\n", "        w1: " + worker_vars.replace("APP", str(app_without_celery(tmp_path))) + "\n"
    )
    result = run("site.yml", write_inventory(tmp_path, body))
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-3000:]
    assert "UNREACHABLE" not in result.stdout


@pytest.mark.parametrize(
    ("fleet", "workers", "named"),
    [
        (
            "",
            "        w1: {celery_worker_beat: true}\n        w2: {celery_worker_beat: true}\n",
            "celery_worker_beat is true on w1 and w2",
        ),
        ("    fleet_celery_beat: true\n", "        w1:\n", "no worker runs the scheduler"),
    ],
    ids=["two schedulers", "none when asked"],
)
def test_one_scheduler_exactly_when_asked(tmp_path, fleet, workers, named):
    body = HOSTS.format(extra=FLEET_VARS + fleet, hub="hub1:").replace("        w1:\n", workers)
    result = run("site.yml", write_inventory(tmp_path, body))
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-3000:]
    assert "UNREACHABLE" not in result.stdout


def test_a_setting_celery_fleet_writes_is_refused_in_the_extra_settings(tmp_path):
    extra = (
        FLEET_VARS
        + "    fleet_celery_extra_settings: {task_routes: {a: b}, broker_url: 'amqp://x', result_expires: 1}\n"
    )
    result = run("site.yml", write_inventory(tmp_path, HOSTS.format(extra=extra, hub="hub1:")))
    assert result.returncode != 0
    message = " ".join(result.stdout.split())
    assert "fleet_celery_extra_settings sets broker_url (set by fleet_hub_names and fleet_broker_*" in message
    assert "result_expires (set by fleet_result_expires)" in message and "task_routes" not in message
    assert "UNREACHABLE" not in result.stdout
