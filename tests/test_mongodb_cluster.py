"""Three hubs: what the mongodb role gives mongod, the firewall and the replica set, as rendered.

mongod cannot be installed on these machines, so the replica set itself is
not run here (molecule/mongodb-config writes a member's mongod.conf and key
on a hub without mongod). What is checked: the role's checks and values for
one hub of three, run by Ansible through the local connection into the
test's folder; a single hub's stay as they were; the key is made once, on
the controller, and never shows in a run's output.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from ansible_run import ansible_playbook
from test_mongodb_rendered import INVENTORY, PLAYBOOK

ROOT = Path(__file__).resolve().parent.parent

# test_mongodb_rendered's hub (this machine) and play (the role's checks,
# mongod.conf and values); the other two hubs are names and addresses only.
ONE_HUB = INVENTORY
THREE_HUBS = INVENTORY.replace(
    "    workers:\n",
    "        hub2: {ansible_host: 192.0.2.12}\n        hub3: {ansible_host: 192.0.2.13}\n    workers:\n",
)

KEY = "mongodb-replica-set-key"
# A key MongoDB accepts (letters and digits), planted to be looked for in the output.
CANARY_KEY = "CanaryReplicaSetKey4d81e2c0ffee"


def render(tmp_path: Path, *options: str, hubs: int = 3, **variables):
    (tmp_path / "hosts.yml").write_text(THREE_HUBS if hubs == 3 else ONE_HUB)
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(root=ROOT, out=tmp_path))
    (tmp_path / "vars.json").write_text(json.dumps({"fleet_secrets_dir": str(tmp_path / "secrets"), **variables}))
    # hub1 alone: the other hubs are only names and addresses.
    return ansible_playbook(
        "-i",
        str(tmp_path / "hosts.yml"),
        "--limit",
        "hub1",
        str(tmp_path / "play.yml"),
        "-e",
        f"@{tmp_path / 'vars.json'}",
        *options,
    )


def rendered(tmp_path: Path, **variables) -> tuple[dict, dict]:
    result = render(tmp_path, **variables)
    assert result.returncode == 0, result.stdout[-3000:]
    conf = yaml.safe_load((tmp_path / "mongod.conf").read_text())
    return conf, json.loads((tmp_path / "values.json").read_text())


@pytest.fixture(scope="module")
def three_hubs(tmp_path_factory):
    """hub1's rendering as one of three hubs, with the defaults: (mongod.conf, values, the run's folder)."""
    folder = tmp_path_factory.mktemp("three-hubs")
    return *rendered(folder), folder


@pytest.fixture(scope="module")
def one_hub(tmp_path_factory):
    """The same for the only hub."""
    folder = tmp_path_factory.mktemp("one-hub")
    return *rendered(folder, hubs=1), folder


def test_a_hub_of_three_is_a_member_of_the_replica_set_proven_by_the_key(three_hubs):
    conf, _, _ = three_hubs
    assert conf["replication"] == {"replSetName": "celery-fleet"}
    assert conf["security"] == {"authorization": "enabled", "keyFile": "/etc/celery-fleet/mongodb-keyfile"}
    # Members show each other the node certificate (clientAuth too), checked against the private CA.
    assert (
        conf["net"]["tls"]
        | {
            "clusterFile": "/etc/celery-fleet/tls/node-mongodb.pem",
            "clusterCAFile": "/etc/celery-fleet/tls/node-ca.pem",
        }
        == conf["net"]["tls"]
    )


def test_the_name_and_the_key_file_are_the_operators_to_choose(tmp_path):
    conf, _ = rendered(tmp_path, mongodb_replica_set_name="results", mongodb_replica_set_key_file="/srv/mongodb.key")
    assert conf["replication"]["replSetName"] == "results"
    assert conf["security"]["keyFile"] == "/srv/mongodb.key"


def test_a_single_hub_keeps_its_configuration_and_makes_no_key(one_hub, three_hubs):
    single, values, folder = one_hub
    assert "replication" not in single and single["security"] == {"authorization": "enabled"}
    assert not (folder / "secrets" / KEY).exists()
    assert values["writes_here"] is True
    # Everything else is what a hub of three gets too.
    three = {**three_hubs[0], "security": {"authorization": "enabled"}}
    del three["replication"]
    three["net"] = {**three["net"], "tls": dict(three["net"]["tls"])}
    del three["net"]["tls"]["clusterFile"], three["net"]["tls"]["clusterCAFile"]
    assert three == single


def test_the_key_is_made_once_per_fleet_on_the_controller(three_hubs):
    _, _, folder = three_hubs
    key_file = folder / "secrets" / KEY
    key = key_file.read_text().strip()
    # What security.keyFile accepts: 6 to 1024 characters of the base64 set.
    assert re.fullmatch(r"[A-Za-z0-9]{756}", key), len(key)
    assert key_file.stat().st_mode & 0o077 == 0
    assert render(folder).returncode == 0
    assert key_file.read_text().strip() == key


def test_the_members_are_every_hub_the_first_preferred_as_primary(three_hubs):
    _, values, _ = three_hubs
    assert values["members"] == [
        {"host": "hub1:27017", "priority": 2},
        {"host": "hub2:27017", "priority": 1},
        {"host": "hub3:27017", "priority": 1},
    ]
    # The role's writes go to the first hub only.
    assert values["writes_here"] is True


def test_the_other_hubs_are_let_in_beside_the_workers(three_hubs):
    _, values, _ = three_hubs
    assert values["rules"] == [
        {"port": 27017, "sources": ["192.0.2.21"], "comment": "mongodb"},
        {"port": 27017, "sources": ["192.0.2.12", "192.0.2.13"], "comment": "mongodb replica set"},
    ]


def test_a_single_hub_opens_the_port_as_before(one_hub):
    _, values, _ = one_hub
    assert values["rules"] == [{"port": 27017, "sources": ["192.0.2.21"], "comment": "mongodb"}]


def test_an_empty_replica_set_name_is_refused_naming_it(tmp_path):
    result = render(tmp_path, mongodb_replica_set_name="")
    assert result.returncode != 0
    assert "mongodb_replica_set_name must name it" in result.stdout, result.stdout[-3000:]
    assert not (tmp_path / "mongod.conf").exists()


def test_a_single_hub_does_not_need_a_replica_set_name(tmp_path):
    assert render(tmp_path, hubs=1, mongodb_replica_set_name="").returncode == 0


def test_another_hub_whose_address_is_unknown_is_named(tmp_path):
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "hub3.yml").write_text("ansible_host: hub3.example.org\n")
    result = render(tmp_path)
    assert result.returncode != 0
    assert "the address of hub3 is unknown" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize(
    "key",
    ["canary-replica-set-4d81e2", "Short", "x" * 1025],
    ids=["outside the base64 set", "too short", "too long"],
)
def test_a_key_mongod_would_refuse_is_refused_naming_the_variable_not_the_key(tmp_path, key):
    result = render(tmp_path, "-v", mongodb_replica_set_key=key)
    assert result.returncode != 0
    assert "Check that mongodb_replica_set_key is 6 to 1024 characters of the base64 set" in result.stdout
    assert key not in result.stdout + result.stderr


def test_the_key_never_shows_in_a_verbose_run(tmp_path):
    result = render(tmp_path, "-vvv", "--diff", mongodb_replica_set_key=CANARY_KEY)
    assert result.returncode == 0, result.stdout[-3000:]
    assert CANARY_KEY not in result.stdout + result.stderr


def tasks_of(node):
    """Every task in a task file's YAML, with the no_log of the blocks around it."""
    for item in node or []:
        inner = [item.get(part) for part in ("block", "rescue", "always") if item.get(part)]
        if inner:
            for tasks in inner:
                for task, hidden in tasks_of(tasks):
                    yield task, hidden or bool(item.get("no_log"))
        else:
            yield item, bool(item.get("no_log"))


def test_every_task_that_touches_the_key_has_no_log():
    touching = re.compile(r"\bmongodb_replica_set_key\b(?!_)")
    found = []
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "roles").glob("*/handlers/*.yml")):
        for task, hidden in tasks_of(yaml.safe_load(path.read_text())):
            if touching.search(json.dumps(task)):
                found.append(task["name"])
                assert hidden, (
                    f"{path.relative_to(ROOT)}: {task['name']} touches mongodb_replica_set_key without no_log"
                )
    # The key's check and its file: the two places it is used.
    assert len(found) == 2, found
