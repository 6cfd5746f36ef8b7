"""The lines playbooks/logs.yml prints (roles/fleet/tasks/logs.yml): each host's journal, or why it has none."""

from hostvars import HostVars
from role_code import load

fleet_logs = load("roles/fleet/filter_plugins/fleet_logs.py")

ARGV = ["journalctl", "--no-pager", "--quiet", "--output=with-unit", "--no-hostname", "--lines=50"]


def journal(*lines, rc=0, stderr=""):
    """ansible.builtin.command's registered result."""
    return {
        "cmd": ARGV,
        "rc": rc,
        "stdout": "\n".join(lines),
        "stdout_lines": list(lines),
        "stderr": stderr,
        "stderr_lines": stderr.splitlines(),
        "changed": False,
    }


def lines_of(**journals):
    hostvars = HostVars({host: {"fleet_logs_journal": result} for host, result in journals.items()})
    return fleet_logs.fleet_journal_lines(list(journals), hostvars)


def test_each_line_is_prefixed_by_its_host_in_the_hosts_order_without_trailing_blanks():
    assert lines_of(
        worker2=journal("Dec 01 12:00:01 celery-worker@w1.service[812]: ready.  "),
        hub=journal(
            "Dec 01 11:59:58 rabbitmq-server.service[501]: accepting AMQP connection\t",
            "Dec 01 12:00:00 mongod.service[602]: Connection accepted",
        ),
    ) == [
        "worker2 | Dec 01 12:00:01 celery-worker@w1.service[812]: ready.",
        "hub | Dec 01 11:59:58 rabbitmq-server.service[501]: accepting AMQP connection",
        "hub | Dec 01 12:00:00 mongod.service[602]: Connection accepted",
    ]


def test_a_host_with_an_empty_journal_says_so():
    assert lines_of(worker1=journal()) == ["worker1 | (no entries)"]


def test_an_unreachable_host_says_why_on_one_line():
    unreachable = {
        "unreachable": True,
        "changed": False,
        "msg": "Failed to connect to the host via ssh: ssh: connect to host 198.51.100.2 port 22:\r\n"
        "  Connection refused",
    }
    assert lines_of(worker2=unreachable) == [
        "worker2 | UNREACHABLE: Failed to connect to the host via ssh: ssh: connect to host 198.51.100.2 port 22: "
        "Connection refused"
    ]


def test_journalctl_refusing_is_not_read_with_its_error():
    refused = journal(rc=1, stderr="Failed to parse timestamp: yesterdayy\n")
    assert lines_of(hub=refused) == ["hub | NOT READ: Failed to parse timestamp: yesterdayy"]


def test_a_module_failure_names_the_modules_error_before_its_message():
    # No Python on the host: the command never ran (no cmd).
    failure = {
        "failed": True,
        "module_stderr": "/bin/sh: 1: /usr/bin/python3: not found\n",
        "module_stdout": "",
        "msg": "MODULE FAILURE: No start of json char found\nSee stdout/stderr for the exact error",
        "rc": 127,
    }
    assert lines_of(worker1=failure) == ["worker1 | NOT READ: /bin/sh: 1: /usr/bin/python3: not found"]
    del failure["module_stderr"]
    assert lines_of(worker1=failure) == [
        "worker1 | NOT READ: MODULE FAILURE: No start of json char found See stdout/stderr for the exact error"
    ]


def test_a_host_that_registered_nothing_points_to_the_error_above():
    # It failed the first assert and left the play; a host the inventory lacks reads the same.
    hostvars = HostVars({"worker1": {"ansible_host": "198.51.100.1"}, "hub": {"fleet_logs_journal": journal("a line")}})
    assert fleet_logs.fleet_journal_lines(["worker1", "gone", "hub"], hostvars) == [
        "worker1 | NOT READ: see the error above",
        "gone | NOT READ: see the error above",
        "hub | a line",
    ]
