"""The journals tasks/logs.yml read on each host, as the lines playbooks/logs.yml prints once."""

import re


def _error(journal) -> str:
    """What went wrong reading a host's journal, on one line."""
    text = journal.get("stderr", "") or journal.get("module_stderr", "") or journal.get("msg", "")
    return re.sub(r"\s+", " ", str(text)).strip()


def fleet_journal_lines(hosts, hostvars) -> list:
    """Every named host's journal lines (its registered fleet_logs_journal), each prefixed "<host> | ", or one
    line saying why there are none: UNREACHABLE, NOT READ (journalctl failed or never ran), (no entries)."""
    lines = []
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else {}
        journal = host_vars.get("fleet_logs_journal", {})
        if journal.get("unreachable"):
            lines.append(f"{host} | UNREACHABLE: {_error(journal)}")
        elif "cmd" not in journal or journal.get("rc") != 0:
            # A host that failed earlier (its error is printed there) never registered a result.
            lines.append(f"{host} | NOT READ: {_error(journal) or 'see the error above'}")
        elif not journal.get("stdout_lines"):
            lines.append(f"{host} | (no entries)")
        else:
            # Trailing blanks would make the YAML callback quote the whole text.
            lines.extend(f"{host} | " + re.sub(r"\s+$", "", str(line)) for line in journal["stdout_lines"])
    return lines


class FilterModule:
    def filters(self):
        return {"fleet_journal_lines": fleet_journal_lines}
