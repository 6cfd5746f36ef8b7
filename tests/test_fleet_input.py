"""What the fleet role's filters (filter_plugins/fleet_input.py) find wrong with the command line of a day-two
operation: the workers named (-e worker=...), the hosts to uninstall, the backup to write or restore."""

import pytest
from role_code import ROOT, load

fleet_input = load("roles/fleet/filter_plugins/fleet_input.py")

# The `groups` of an inventory with a hub, three workers and a host celery-fleet did not set up.
GROUPS = {
    "all": ["hub1", "worker1", "worker2", "worker3", "grafana1"],
    "ungrouped": [],
    "hub": ["hub1"],
    "workers": ["worker1", "worker2", "worker3"],
    "monitoring": ["grafana1"],
}


@pytest.mark.parametrize(
    ("worker", "names"),
    [
        ("worker1", ["worker1"]),
        ("worker1,worker2", ["worker1", "worker2"]),
        (" worker1 , worker2 ,", ["worker1", "worker2"]),
        (["worker3", " worker1 "], ["worker3", "worker1"]),
        ("", []),
        (" , ", []),
        (None, []),
    ],
)
def test_a_worker_list_is_split_at_commas_and_trimmed(worker, names):
    assert fleet_input.fleet_worker_list(worker) == names


def test_naming_no_worker_asks_for_one():
    problem = fleet_input.fleet_target_workers_problem([], GROUPS, "inventory/production")
    assert problem == "Name the worker: -e worker=<inventory name> (several: -e worker=a,b)."


def test_an_unknown_worker_is_named_with_the_inventory():
    problem = fleet_input.fleet_target_workers_problem(["worker1", "worker9", "hub1", "worker9"], GROUPS, "inv/prod")
    assert problem.startswith("worker9: no such host in the inventory (inv/prod); add it to the group `workers`")


def test_a_host_that_is_not_a_worker_is_named_in_the_order_given():
    problem = fleet_input.fleet_target_workers_problem(["worker1", "hub1", "grafana1"], GROUPS, "inv/prod")
    assert problem == (
        "hub1, grafana1: not in the group `workers` (a hub or another host); only workers can be named here."
    )


def test_workers_of_the_inventory_are_accepted():
    assert fleet_input.fleet_target_workers_problem(["worker2", "worker1"], GROUPS) == ""
    assert fleet_input.fleet_target_workers_problem(["worker1"], {"all": ["worker1"], "workers": ["worker1"]}) == ""


def test_an_inventory_without_workers_accepts_none():
    problem = fleet_input.fleet_target_workers_problem(["hub1"], {"all": ["hub1"], "hub": ["hub1"]})
    assert problem.startswith("hub1: not in the group `workers`")


def test_a_backup_needs_exactly_one_hub(tmp_path):
    for hubs in ([], ["hub1", "hub2"]):
        problem = fleet_input.fleet_backup_problem(str(tmp_path), hubs, str(ROOT))
        assert problem == (
            f"The inventory needs exactly one host in the group `hub` (it has {len(hubs)}): that is the host backed up."
        )


@pytest.mark.parametrize(
    "folder",
    [str(ROOT / "backups"), str(ROOT), f"{ROOT}/roles/../backups", "backups", "~/backups"],
    ids=["inside", "the repository", "inside through ..", "relative", "not expanded"],
)
def test_a_backup_goes_to_an_absolute_folder_outside_the_repository(folder):
    problem = fleet_input.fleet_backup_problem(folder, ["hub1"], str(ROOT))
    assert problem.startswith(f"backup_dir ({folder}) must be an absolute folder outside this repository ({ROOT}): ")
    assert "Leave it out (the default is ~/.config/celery-fleet/<inventory>-<digest>/backups)" in problem


def test_a_link_into_the_repository_is_inside_it(tmp_path):
    (tmp_path / "link").symlink_to(ROOT)
    problem = fleet_input.fleet_backup_problem(str(tmp_path / "link" / "backups"), ["hub1"], str(ROOT))
    assert problem.startswith("backup_dir (")


def test_a_folder_beside_the_repository_with_its_name_as_prefix_is_outside():
    beside = f"{ROOT}-backups/2026"
    assert fleet_input.fleet_backup_problem(beside, ["hub1"], str(ROOT)) == ""
    assert (
        fleet_input.fleet_backup_problem("/home/ops/.config/celery-fleet/prod-1a2b3c4d/backups", ["h"], str(ROOT)) == ""
    )


def stats(folder: bool, definitions: bool | None) -> list[dict]:
    """What the looped stat of restore.yml registers: the folder, then its rabbitmq-definitions.json."""
    return [
        {"item": "/b", "stat": {"exists": folder, "isdir": True} if folder else {"exists": False}},
        {
            "item": "/b/rabbitmq-definitions.json",
            "stat": {"exists": definitions is not None, "isreg": bool(definitions), "isdir": definitions is False},
        },
    ]


SKIPPED = [{"item": "", "skipped": True, "skip_reason": "Conditional result was False"}] * 2


@pytest.mark.parametrize(
    ("restore_dir", "results", "hubs", "expected"),
    [
        ("", SKIPPED, ["hub1"], "Say which backup to restore: -e restore_from=<folder>, one of the folders"),
        ("/b", stats(False, None), ["hub1"], "restore_from (/b) is not a folder on this controller: give the folder"),
        ("/b", stats(True, None), ["hub1"], "restore_from (/b) holds no rabbitmq-definitions.json: it is not a folder"),
        ("/b", stats(True, False), ["hub1"], "restore_from (/b) holds no rabbitmq-definitions.json"),
        ("/b", stats(True, True), [], "The inventory needs exactly one host in the group `hub` (it has 0): that is"),
        ("/b", stats(True, True), ["h1", "h2"], "The inventory needs exactly one host in the group `hub` (it has 2)"),
        ("/b", stats(True, True), ["hub1"], ""),
    ],
    ids=["none named", "not a folder", "no definitions", "definitions a folder", "no hub", "two hubs", "a backup"],
)
def test_the_first_problem_of_a_restore_is_named(restore_dir, results, hubs, expected):
    problem = fleet_input.fleet_restore_problem(restore_dir, results, hubs)
    assert problem.startswith(expected) and bool(problem) == bool(expected)


@pytest.mark.parametrize(
    ("pattern", "parts"),
    [
        ("worker3", ["worker3"]),
        ("hub:workers", ["hub", "workers"]),
        ("workers, hub1", ["workers", "hub1"]),
        ("workers:!worker1:&hub", ["workers", "worker1", "hub"]),
        ("workers[0:1]:hub", ["workers[0:1]", "hub"]),
        ("a,,b:", ["a", "b"]),
    ],
)
def test_a_pattern_is_read_into_the_names_it_uses(pattern, parts):
    assert fleet_input.fleet_pattern_parts(pattern) == parts


@pytest.mark.parametrize(
    "pattern",
    ["worker3", "workers", "hub:workers", "hub,workers", "workers:!worker1", "worker*", "~worker[12]", "workers[0:1]"],
)
def test_hosts_and_groups_of_the_fleet_may_be_uninstalled(pattern):
    assert fleet_input.fleet_uninstall_problem(pattern, GROUPS, ["inventory/production"]) == ""


def test_an_uninstall_names_hosts():
    problem = fleet_input.fleet_uninstall_problem("", GROUPS, ["inventory/production"])
    assert problem.startswith("Say which hosts to uninstall: -e uninstall_hosts=<host, group or pattern>")


@pytest.mark.parametrize(
    ("pattern", "unknown"),
    [
        ("wroker1", "wroker1"),
        ("worker1,wroker2,hub", "wroker2"),
        ("workers:!nothere", "nothere"),
        ("workers[7]", "workers[7]"),
    ],
)
def test_a_misspelt_part_is_refused_even_beside_good_ones(pattern, unknown):
    problem = fleet_input.fleet_uninstall_problem(pattern, GROUPS, ["inventory/production", "extra.yml"])
    assert problem == (
        f"uninstall_hosts ({pattern}) names {unknown}, which matches no host or group of the inventory "
        "(inventory/production, extra.yml). Check the spelling."
    )


def test_a_pattern_of_known_parts_that_matches_no_host_is_refused():
    problem = fleet_input.fleet_uninstall_problem("workers:&hub", GROUPS, ["inventory/production"])
    assert problem == "uninstall_hosts (workers:&hub) matches no host of the inventory."


@pytest.mark.parametrize(
    ("pattern", "others"),
    [("grafana1", "grafana1"), ("all", "grafana1"), ("hub1:monitoring", "grafana1"), ("localhost", "localhost")],
)
def test_hosts_outside_the_fleet_are_refused(pattern, others):
    problem = fleet_input.fleet_uninstall_problem(pattern, GROUPS, ["inventory/production"])
    assert problem.startswith(f"uninstall_hosts ({pattern}) matches {others}, which are neither the hub nor workers")
    assert problem.endswith("Name the fleet's hosts only (e.g. hub:workers).")
