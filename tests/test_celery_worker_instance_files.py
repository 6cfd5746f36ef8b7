"""Which files a deploy (or the uninstall) removes for worker instances that are gone: only those the
celery_worker role wrote (its filter celery_worker_stale_instance_files, fed what the tasks found)."""

from pathlib import Path

from ansible_run import ansible_playbook
from role_code import load

instances = load("roles/celery_worker/filter_plugins/celery_worker_instances.py")

SYSTEMD = "/etc/systemd/system"
INSTANCES = "/etc/celery-fleet/worker/instances"

# What the role's finds return on a host that ran w1 and w2 and now lists w1 only: the instances
# folder, the drop-in folders of /etc/systemd/system and what they hold, and matches of other programs.
LISTING = [
    f"{INSTANCES}/w1.env",
    f"{INSTANCES}/w2.env",
    f"{SYSTEMD}/other.env",
    f"{SYSTEMD}/celery-worker@.service.d",
    f"{SYSTEMD}/celery-worker@.service.d/override.conf",
    f"{SYSTEMD}/celery-worker@w1.service.d",
    f"{SYSTEMD}/celery-worker@w1.service.d/50-celery-fleet.conf",
    f"{SYSTEMD}/celery-worker@w2.service.d",
    f"{SYSTEMD}/celery-worker@w2.service.d/50-celery-fleet.conf",
]


def stale(listing, kept):
    return instances.celery_worker_stale_instance_files(listing, kept, INSTANCES)


def test_only_a_gone_instances_own_files_are_removed():
    assert stale(LISTING, ["w1"]) == [
        f"{INSTANCES}/w2.env",
        f"{SYSTEMD}/celery-worker@w2.service.d/50-celery-fleet.conf",
        f"{SYSTEMD}/celery-worker@w2.service.d",
    ]


def test_a_drop_in_folder_the_operator_added_to_keeps_it_and_the_operators_file():
    listing = [*LISTING, f"{SYSTEMD}/celery-worker@w2.service.d/10-debug.conf"]
    assert stale(listing, ["w1"]) == [
        f"{INSTANCES}/w2.env",
        f"{SYSTEMD}/celery-worker@w2.service.d/50-celery-fleet.conf",
    ]


def test_the_uninstall_removes_every_instances_drop_in_but_not_the_templates():
    dropins = [path for path in LISTING if path.startswith(SYSTEMD)]
    assert stale(dropins, []) == [
        f"{SYSTEMD}/celery-worker@w1.service.d/50-celery-fleet.conf",
        f"{SYSTEMD}/celery-worker@w2.service.d/50-celery-fleet.conf",
        f"{SYSTEMD}/celery-worker@w1.service.d",
        f"{SYSTEMD}/celery-worker@w2.service.d",
    ]


def test_an_empty_folder_left_by_an_instance_without_limits_goes_and_odd_names_stay():
    listing = [
        f"{SYSTEMD}/celery-worker@w3.service.d",
        f"{INSTANCES}/.env",
        f"{INSTANCES}/notes.txt",
        f"{INSTANCES}/sub/w4.env",
    ]
    assert stale(listing, []) == [f"{SYSTEMD}/celery-worker@w3.service.d"]


PLAYBOOK = """
- name: The role's removal of a gone instance's files, on folders standing in for the host's
  hosts: worker1
  connection: local
  gather_facts: false
  tasks:
    - name: Remove what the role wrote for instances other than w1
      ansible.builtin.include_role:
        name: celery_worker
        tasks_from: instance_files
      vars:
        celery_worker_instance_file_dirs: ["{{ celery_worker_systemd_dir }}", "{{ celery_worker_instances_dir }}"]
        celery_worker_kept_instances: [w1]
"""


def test_a_deploy_removes_a_gone_instances_files_and_nothing_else_and_again_changes_nothing(tmp_path):
    systemd, instances = tmp_path / "systemd", tmp_path / "instances"
    for path in [*LISTING, f"{SYSTEMD}/celery-worker@w2.service.d/10-debug.conf"]:
        if path.endswith((".env", ".conf")):
            local = Path(path.replace(SYSTEMD, str(systemd)).replace(INSTANCES, str(instances)))
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text("")
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    fleet_network_profile: public\n    fleet_operator_sources: []\n"
        '    ansible_python_interpreter: "{{ ansible_playbook_python }}"\n  hosts:\n    worker1:\n'
    )
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    before = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}
    args = ["-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    args += ["-e", f"celery_worker_systemd_dir={systemd}", "-e", f"celery_worker_instances_dir={instances}"]
    # The handler's daemon-reload: no systemd here.
    first = ansible_playbook(*args, SYSTEMD_OFFLINE="1")
    assert first.returncode == 0, first.stdout[-3000:]
    after = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}
    assert before - after == {
        Path("instances/w2.env"),
        Path("systemd/celery-worker@w2.service.d/50-celery-fleet.conf"),
    }
    assert (systemd / "celery-worker@.service.d/override.conf").exists()
    again = ansible_playbook(*args, SYSTEMD_OFFLINE="1")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
