"""The rabbitmq role on rabbitmq-hub12 (Debian 12, RabbitMQ 3.10, the defaults) and rabbitmq-hub13 (Debian 13,
RabbitMQ 4.0, plaintext AMQP on loopback and the management plugin), seen from rabbitmq-client (a worker) and
rabbitmq-outsider.

The tests run in this file's order: the password rotation changes the app
user's password, and the sampler check stops the process sampler.
"""

import json
import time
from collections import Counter

import pytest
from checks import CONNECTED, NO_ANSWER, connect, inventory_vars, playbook, probe

HUBS = ["rabbitmq-hub12", "rabbitmq-hub13"]
CA = "/etc/celery-fleet/tls/ca.pem"
# hub13's options (molecule.yml).
OPTIONS = {
    "rabbitmq-hub12": {"loopback": False, "management": False},
    "rabbitmq-hub13": {"loopback": True, "management": True},
}


@pytest.fixture(scope="module")
def secrets(inventory):
    hub_vars = inventory_vars(inventory, "rabbitmq-hub12")
    return {"app": hub_vars["fleet_broker_password"], "reports": hub_vars["rabbitmq_extra_users_password"]}


def broker_version(host) -> tuple[int, ...]:
    version = host.check_output("dpkg-query -W -f='${Version}' rabbitmq-server")
    return tuple(int(part) for part in version.split("-")[0].split(".")[:2])


@pytest.mark.parametrize("hub", HUBS)
def test_the_broker_runs_and_starts_at_boot(hosts, hub):
    unit = hosts(hub).service("rabbitmq-server")
    assert unit.is_running
    assert unit.is_enabled


@pytest.mark.parametrize("hub", HUBS)
def test_the_running_broker_has_no_delivery_acknowledgement_timeout(hosts, hub):
    # advanced.config sets it to undefined, which turns it off (Celery holds countdown tasks unacknowledged):
    # RabbitMQ's own default shows {ok,1800000}, and a task delayed 30 minutes would close its worker's channel.
    shown = hosts(hub).check_output("rabbitmqctl eval 'application:get_env(rabbit, consumer_timeout).'")
    assert shown.strip() == "{ok,undefined}"


@pytest.mark.parametrize("hub", HUBS)
def test_the_listeners_are_exactly_the_configured_ones(hosts, hub):
    listed = json.loads(hosts(hub).check_output("rabbitmq-diagnostics --quiet listeners --formatter json"))
    found = sorted(f"{item['protocol']} {item['port']} on {item['interface']}" for item in listed["listeners"])
    expected = ["amqp/ssl 5671 on [::]", "clustering 25672 on 127.0.0.1"]
    expected += ["amqp 5672 on 127.0.0.1"] if OPTIONS[hub]["loopback"] else []
    expected += ["https 15671 on [::]"] if OPTIONS[hub]["management"] else []
    assert found == sorted(expected)


@pytest.mark.parametrize("hub", HUBS)
def test_epmd_and_the_distribution_port_listen_on_loopback_only(hosts, hub):
    host = hosts(hub)
    local = [line.split()[3] for line in host.check_output("ss --listening --tcp --numeric --no-header").splitlines()]

    def on(port: int) -> list[str]:
        return [address for address in local if address.endswith(f":{port}")]

    assert on(4369) == ["127.0.0.1:4369"]
    assert on(25672) == ["127.0.0.1:25672"]
    assert on(5672) == (["127.0.0.1:5672"] if OPTIONS[hub]["loopback"] else [])
    assert on(15672) == []
    for port in [4369, 25672] + ([5672] if OPTIONS[hub]["loopback"] else []):
        assert connect(host, "127.0.0.1", port) == CONNECTED, port


@pytest.mark.parametrize("hub", HUBS)
def test_the_erlang_cookie_is_readable_by_rabbitmq_only(hosts, hub):
    cookie = hosts(hub).file("/var/lib/rabbitmq/.erlang.cookie")
    assert (cookie.user, cookie.mode) == ("rabbitmq", 0o400)


@pytest.mark.parametrize("hub", HUBS)
def test_tls_12_and_13_verify_against_the_ca_and_10_and_11_are_refused(hub):
    seen = probe("rabbitmq-client", "tls_versions", {"host": hub, "port": 5671, "ca": CA})
    assert seen["1.2"]["ok"] and seen["1.2"]["version"] == "TLSv1.2", seen
    assert seen["1.3"]["ok"] and seen["1.3"]["version"] == "TLSv1.3", seen
    for old in ("1.0", "1.1"):
        assert not seen[old]["ok"] and seen[old]["reason"] == "TLSV1_ALERT_PROTOCOL_VERSION", seen


# testssl.sh (Debian's package, prepare.yml) run from the client, offline: it trusts the fleet's CA (--add-ca),
# fetches no CRL or OCSP answer (no --phone-out) and asks DNS for addresses only (--nodns min). The AMQPS scan runs
# every graded check of testssl's default run (protocols, cipher categories, forward secrecy and curves, server
# preferences, certificate, vulnerabilities including renegotiation); it leaves out the per-cipher list and the
# browser simulations, which only inform. The management listener (HTTPS) gets the renegotiation checks only.
TESTSSL = ["--quiet", "--color", "0", "--warnings", "off", "--nodns", "min", "--add-ca", CA]
AMQPS_CHECKS = ["--protocols", "--std", "--fs", "--server-preference", "--server-defaults", "--vulnerable"]
# What testssl marks NOT ok (MEDIUM and up), and a check it could not run (WARN) or a scan that broke (FATAL).
NOT_OK = {"MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"}
# What a fleet with its own private CA implies, and the client's own limits; nothing else is let through.
ALLOWED = {
    "cert_revocation": "the fleet's private CA publishes neither a CRL nor an OCSP responder",
    "engine_problem": "the client's OpenSSL 3 has no GOST engine (no GOST suite is offered anyway)",
}


def run_testssl(client, target: str, port: int, checks: list[str]) -> tuple[dict[str, dict], list[dict], float]:
    """Scan target:port from the client; its findings by id, all of them, and the seconds the scan took."""
    report = f"/var/tmp/testssl-{target}-{port}.json"
    argv = ["timeout", "600", "testssl", *TESTSSL, "--jsonfile", report, *checks, f"{target}:{port}"]
    client.run_expect([0], "rm -f %s", report)
    started = time.monotonic()
    result = client.run(" ".join(["%s"] * len(argv)), *argv)
    took = time.monotonic() - started
    # testssl exits with the sum of its checks' return codes; 242 and up is its own fatal error, 124 the timeout.
    assert result.rc < 242 and result.rc != 124, (result.rc, result.stdout[-2000:], result.stderr[-2000:])
    findings = json.loads(client.file(report).content_string)
    return {finding["id"]: finding for finding in findings}, findings, took


def not_ok(findings: list[dict], allowed: dict[str, str]) -> list[dict]:
    return [f for f in findings if f["severity"] in NOT_OK and f["id"] not in allowed]


def summary(findings: list[dict]) -> str:
    counts = Counter(finding["severity"] for finding in findings)
    return ", ".join(f"{count} {severity}" for severity, count in sorted(counts.items()))


@pytest.mark.parametrize("hub", HUBS)
def test_testssl_finds_nothing_wrong_on_amqps_and_no_client_renegotiation(hosts, hub):
    by_id, findings, took = run_testssl(hosts("rabbitmq-client"), hub, 5671, AMQPS_CHECKS)
    let_through = ", ".join(sorted({f["id"] for f in findings if f["severity"] in NOT_OK and f["id"] in ALLOWED}))
    print(f"report: testssl {hub}:5671 in {took:.0f} s: {summary(findings)}; allowed: {let_through or 'none'}")
    # The renegotiation check ran and the broker refused: not "likely not vulnerable (timed out)".
    assert by_id["secure_renego"]["severity"] == "OK", by_id["secure_renego"]
    assert by_id["secure_client_renego"]["finding"] == "not vulnerable", by_id["secure_client_renego"]
    # ECDHE on TLS 1.2 over the wanted curves only (OTP 25 would offer sect163k1 and the like by default).
    assert by_id["PFS_ECDHE_curves"]["severity"] == "OK", by_id["PFS_ECDHE_curves"]
    assert not_ok(findings, ALLOWED) == []


def test_the_management_listener_refuses_client_renegotiation(hosts):
    by_id, findings, took = run_testssl(hosts("rabbitmq-client"), "rabbitmq-hub13", 15671, ["--renegotiation"])
    print(f"report: testssl rabbitmq-hub13:15671 (renegotiation) in {took:.0f} s: {summary(findings)}")
    # On HTTP testssl asks four times: Erlang's own throttle (one client renegotiation per 12 s) reads
    # "not vulnerable, mitigated"; only client_renegotiation = false refuses the first one.
    assert by_id["secure_client_renego"]["finding"] == "not vulnerable", by_id["secure_client_renego"]
    assert not_ok(findings, ALLOWED) == []


@pytest.mark.parametrize("hub", HUBS)
@pytest.mark.parametrize("port", [5672, 4369, 25672])
def test_a_worker_gets_no_connection_to_the_other_ports(hosts, hub, port):
    assert connect(hosts("rabbitmq-client"), hub, port) != CONNECTED


@pytest.mark.parametrize("hub", HUBS)
def test_only_the_right_user_and_password_get_in_and_only_on_their_vhost(hub, secrets):
    attempts = {
        "app": {"user": "celery", "password": secrets["app"], "vhost": "celery", "try": "roundtrip"},
        "guest": {"user": "guest", "password": "guest", "vhost": "celery"},
        "wrong_password": {"user": "celery", "password": secrets["app"] + "-wrong", "vhost": "celery"},
        "other_own_vhost": {"user": "reports", "password": secrets["reports"], "vhost": "reports"},
        "other_on_celery": {"user": "reports", "password": secrets["reports"], "vhost": "celery"},
    }
    seen = probe("rabbitmq-client", "amqp", {"host": hub, "ca": CA, "attempts": attempts})
    assert seen["app"]["ok"], seen["app"]
    assert seen["guest"]["error"] == "ProbableAuthenticationError"
    assert seen["wrong_password"]["error"] == "ProbableAuthenticationError"
    assert seen["other_own_vhost"]["ok"]
    assert seen["other_on_celery"]["error"] == "ProbableAccessDeniedError"


@pytest.mark.parametrize("hub", HUBS)
def test_rabbitmq_4_refuses_transient_nonexclusive_queues_and_310_takes_them(hosts, hub, secrets):
    # A fleet without the rpc backend: denied on 4.0 as 4.3 does by default;
    # 3.10 has no such setting.
    attempt = {"user": "celery", "password": secrets["app"], "vhost": "celery", "try": "transient"}
    seen = probe("rabbitmq-client", "amqp", {"host": hub, "ca": CA, "attempts": {"transient": attempt}})
    assert seen["transient"]["ok"] is (broker_version(hosts(hub)) < (4, 0)), seen


def test_the_management_api_answers_over_https_only(hosts):
    client = hosts("rabbitmq-client")
    status = client.check_output(
        "python3 -c %s",
        "import ssl, urllib.request, urllib.error\n"
        f"ctx = ssl.create_default_context(cafile='{CA}')\n"
        "try:\n"
        "    urllib.request.urlopen('https://rabbitmq-hub13:15671/api/overview', context=ctx, timeout=10)\n"
        "    print(200)\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code)\n",
    )
    assert status == "401"
    assert connect(client, "rabbitmq-hub13", 15672) != CONNECTED


BAD_SUITE = """
- name: Learn every host's address, as converge.yml does
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather the network facts
      ansible.builtin.setup:
        gather_subset: [min, network]

- name: Converge a hub with a cipher suite Erlang does not know
  hosts: rabbitmq-hub12
  gather_facts: false
  roles:
    - role: tls
    - role: rabbitmq
      vars:
        rabbitmq_tls_ciphers: [ECDHE-RSA-AES128-GCM-SHA256, NOT-A-SUITE]
"""


def test_a_rejected_tls_option_fails_the_run_and_the_broker_keeps_its_configuration(inventory, tmp_path, hosts):
    hub = hosts("rabbitmq-hub12")
    before = hub.check_output("sha256sum /etc/rabbitmq/advanced.config")
    pid = hub.check_output("systemctl show -P MainPID rabbitmq-server")
    result = playbook(inventory, BAD_SUITE, tmp_path)
    assert result.returncode != 0, result.stdout
    assert "NOT-A-SUITE" in result.stdout, result.stdout[-3000:]
    assert hub.check_output("sha256sum /etc/rabbitmq/advanced.config") == before
    assert hub.check_output("systemctl show -P MainPID rabbitmq-server") == pid
    seen = probe("rabbitmq-client", "tls_versions", {"host": "rabbitmq-hub12", "port": 5671, "ca": CA})
    assert seen["1.2"]["ok"], seen


@pytest.mark.parametrize("hub", HUBS)
def test_an_outsider_gets_no_answer_on_amqps(hosts, hub):
    assert connect(hosts("rabbitmq-outsider"), hub, 5671) == NO_ANSWER


ROTATE = """
- name: Run the role's access tasks with a new password
  hosts: hubs
  gather_facts: false
  tasks:
    - name: Apply the new password
      ansible.builtin.include_role:
        name: rabbitmq
        tasks_from: access
      vars:
        rabbitmq_app_password: "{{ fleet_broker_password }}-rotated"
"""


def test_a_changed_password_is_applied_on_the_next_run(inventory, tmp_path, secrets):
    result = playbook(inventory, ROTATE, tmp_path)
    assert result.returncode == 0, result.stdout
    for hub in HUBS:
        attempts = {
            "new": {"user": "celery", "password": secrets["app"] + "-rotated", "vhost": "celery"},
            "old": {"user": "celery", "password": secrets["app"], "vhost": "celery"},
        }
        seen = probe("rabbitmq-client", "amqp", {"host": hub, "ca": CA, "attempts": attempts})
        assert seen["new"]["ok"], (hub, seen["new"])
        assert seen["old"]["error"] == "ProbableAuthenticationError", hub


@pytest.mark.parametrize("hub", HUBS)
def test_no_password_was_ever_on_the_process_list_and_rabbitmqctl_bound_loopback(hosts, hub):
    # The sampler ran from before the first converge (prepare.yml) until now.
    host = hosts(hub)
    host.check_output("systemctl stop test-proc-sampler")
    seen = json.loads(host.file("/var/tmp/test-proc-sampler.json").content_string)
    assert seen["watched"] > 0, seen
    assert seen["leaks"] == 0, seen
    assert seen["listeners_in_range"], seen
    assert all(address.startswith("127.0.0.1:") for address in seen["listeners_in_range"]), seen
