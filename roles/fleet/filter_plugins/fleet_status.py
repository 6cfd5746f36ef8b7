"""The fleet's status report (playbooks/status.yml): what each role read on its hosts, judged and laid out.

Each role's `tasks_from: status` sets one fact on its host, `fleet_status_<role>`, holding what it read
and nothing else (roles/fleet/README.md, "The status contract"); `tasks_from: status_report` collects
those facts from every host of the play into {host: {role: fact}} and passes them here. Every judgement
is made here, in one place that unit tests reach (tests/test_fleet_status.py): what is up, what is a
problem, and how the table reads.
"""

import datetime

DOCUMENTATION = """
  name: fleet_status
  short_description: The fleet's status table and its problems, from the fleet_status_* facts of its hosts
"""

# The parts a host may report, in the order of the report.
PARTS = ("celery_worker", "rabbitmq", "mongodb", "tls")

# x509_certificate_info's not_after (ASN.1 time).
_ASN1_TIME = "%Y%m%d%H%M%SZ"

_ALARM_NAMES = {"memory": "memory", "disk": "free disk space", "file_descriptors": "file descriptor"}


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bool(value):
    """True, False, or None (not known), from a boolean or the text of one."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "1")


def _short(unit):
    """celery-worker@w1.service -> celery-worker@w1: what an operator types after systemctl."""
    unit = str(unit or "?")
    return unit[: -len(".service")] if unit.endswith(".service") else unit


def _gist(text):
    """The line of a command's error output that says what went wrong: the first that starts with
    "Error" (rabbitmqctl and celery say it there, then explain), else the last (a Python traceback's)."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or [""])[0 if errors else -1]


def _gib(count):
    return f"{_int(count) / 2**30:.1f} GiB"


def _table(header, rows):
    """Columns padded to their widest cell, two spaces apart, no trailing blanks (the YAML callback
    prints a text without them as a block, its lines as they are)."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]


def _service_state(service):
    """('up'|'down'|'missing', 'active/running') of a systemd unit's ActiveState and SubState."""
    service = service or {}
    active = str(service.get("active_state") or "unknown")
    sub = str(service.get("sub_state") or "unknown")
    if str(service.get("load_state") or "") == "not-found":
        return "missing", "not-found"
    return ("up" if active == "active" else "down"), f"{active}/{sub}"


def _service_problem(name, service):
    """What is wrong with a unit that should run, or None."""
    word, _ = _service_state(service)
    if word == "up":
        return None
    if word == "missing":
        return f"{_short(name)} is not installed (systemd knows no such unit)"
    restarts = _int((service or {}).get("restarts"))
    text = f"{_short(name)} is {service.get('active_state') or 'unknown'} ({service.get('sub_state') or 'unknown'})"
    return text + (f", restarted {restarts} times" if restarts else "")


def _parse_time(text):
    try:
        return datetime.datetime.strptime(str(text), _ASN1_TIME).replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        return None


def _now(now):
    if now is None:
        return datetime.datetime.now(datetime.UTC)
    if isinstance(now, datetime.datetime):
        return now if now.tzinfo else now.replace(tzinfo=datetime.UTC)
    parsed = _parse_time(now)
    if parsed is None:
        parsed = datetime.datetime.fromisoformat(str(now))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


class _Report:
    def __init__(self):
        self.lines = []
        self.problems = []

    def problem(self, host, text):
        self.problems.append(f"PROBLEM {host}: {text}")

    def section(self, title, lines):
        if lines:
            self.lines.extend(["", title, *lines])


def _workers(report, facts):
    """One row per unit of every worker; returns the queues the workers consume."""
    rows = []
    consumed = set()
    for host, parts in facts.items():
        worker = parts.get("celery_worker")
        if worker is None:
            continue
        ping = worker.get("ping") or {}
        answered = set(ping.get("answered") or [])
        if _int(ping.get("rc"), 1) == 124:
            ping_error = "no answer before the timeout"
        else:
            ping_error = _gist(ping.get("error"))
        version = str(worker.get("celery_version") or "")
        consumed.update(worker.get("queues") or [])
        for unit in worker.get("units") or []:
            name = unit.get("name")
            node = unit.get("node") or ""
            word, state = _service_state(unit)
            if node:
                ping_cell = "answered" if node in answered else "no answer"
            else:
                ping_cell = "-"
            rows.append(
                [host, _short(name), f"{word} ({state})", _int(unit.get("restarts")), ping_cell, version or "?"]
            )
            service_problem = _service_problem(name, unit)
            if service_problem:
                report.problem(host, service_problem)
            elif node and node not in answered:
                # A stopped unit does not answer either: that is said once, above.
                report.problem(
                    host,
                    f"{node} ({_short(name)}) does not answer a ping through the broker"
                    + (f": {ping_error}" if ping_error else ""),
                )
        if not version:
            report.problem(
                host,
                "no Celery version could be read from the workers' virtualenv"
                + (f": {_gist(worker.get('celery_version_error'))}" if worker.get("celery_version_error") else ""),
            )
    report.section("WORKERS", _table(["HOST", "UNIT", "STATE", "RESTARTS", "PING", "CELERY"], rows) if rows else [])
    return consumed


def _rabbitmq_row(report, host, broker, disk_min_free_percent):
    service = broker.get("service") or {}
    word, state = _service_state(service)
    details = []
    problem = _service_problem(service.get("name") or "rabbitmq-server", service)
    if problem:
        report.problem(host, problem)
    elif broker.get("error"):
        report.problem(host, f"rabbitmqctl status gets no answer from the broker: {_gist(broker['error'])}")
    if not broker.get("error"):
        alarms = []
        for alarm in broker.get("alarms") or []:
            resource = alarm.get("resource") if isinstance(alarm, dict) else alarm
            node = alarm.get("node") if isinstance(alarm, dict) else ""
            name = _ALARM_NAMES.get(str(resource), str(resource))
            alarms.append(name)
            report.problem(
                host,
                f"RabbitMQ {name} alarm" + (f" on {node}" if node else "") + ": publishers are blocked until it clears",
            )
        details.append("alarms: " + (", ".join(alarms) if alarms else "none"))
    cluster = broker.get("cluster")
    if cluster and not problem and not broker.get("error"):
        details.append(_cluster_detail(report, host, broker.get("node") or "?", cluster))
    disk = broker.get("disk") or {}
    size, free = _int(disk.get("size")), _int(disk.get("free"))
    if size > 0:
        percent = 100 * free // size
        details.append(f"disk {disk.get('path', '?')}: {_gib(free)} free of {_gib(size)} ({percent}%)")
        if percent < disk_min_free_percent:
            report.problem(
                host,
                f"only {percent}% of the disk where RabbitMQ keeps its data is free ({disk.get('path', '?')}: "
                f"{_gib(free)} of {_gib(size)}; under {disk_min_free_percent}%)",
            )
    elif disk.get("error"):
        details.append("disk: unknown")
        report.problem(host, f"cannot read the free disk space of {disk.get('path', '?')}: {_gist(disk['error'])}")
    return [
        host,
        _short(service.get("name") or "rabbitmq-server"),
        f"{word} ({state})",
        broker.get("version") or "?",
        "; ".join(details),
    ]


def _cluster_detail(report, host, node, cluster):
    """How a running node sees its cluster: the expected nodes it does not see running, and any partition."""
    if cluster.get("error"):
        report.problem(host, f"rabbitmqctl cluster_status gets no answer from {node}: {_gist(cluster['error'])}")
        return "cluster: unknown"
    nodes, running = list(cluster.get("nodes") or []), set(cluster.get("running") or [])
    missing = [name for name in nodes if name not in running]
    if missing:
        report.problem(
            host,
            f"{node} sees {len(nodes) - len(missing)} of {len(nodes)} cluster nodes running; not "
            f"{', '.join(missing)}: queues keep a majority of replicas, the rest wait for them "
            "(systemctl status rabbitmq-server there; a lost hub: site.yml rebuilds it, playbooks/replace-hub.yml "
            "replaces it)",
        )
    partitions = cluster.get("partitions")
    if partitions:
        # rabbitmqctl's JSON: {node: [the nodes it lost touch with]}.
        sides = (
            "; ".join(f"{name} lost {', '.join(map(str, lost))}" for name, lost in sorted(partitions.items()))
            if isinstance(partitions, dict)
            else str(partitions)
        )
        report.problem(
            host, f"{node} reports a network partition ({sides}): the side without a majority pauses until it heals"
        )
    return f"cluster: {len(nodes) - len(missing)} of {len(nodes)} nodes running" + (
        ", partitioned" if partitions else ""
    )


def _mongodb_row(report, host, mongodb):
    service = mongodb.get("service") or {}
    word, state = _service_state(service)
    details = []
    problem = _service_problem(service.get("name") or "mongod", service)
    if problem:
        report.problem(host, problem)
    elif _bool(mongodb.get("listening")) is False:
        report.problem(host, f"mongod runs but does not accept connections on port {mongodb.get('port', '?')}")
        details.append(f"port {mongodb.get('port', '?')} closed")
    elif _bool(mongodb.get("listening")):
        details.append(f"port {mongodb.get('port', '?')} open")
    return [
        host,
        _short(service.get("name") or "mongod"),
        f"{word} ({state})",
        mongodb.get("version") or "?",
        "; ".join(details),
    ]


def _renewal_row(report, host, renewal):
    result = str(renewal.get("result") or "")
    when = str(renewal.get("exit_timestamp") or "")
    name = _short(renewal.get("name") or "celery-fleet-acme-renew")
    if str(renewal.get("load_state") or "") == "not-found":
        report.problem(host, f"{name} is not installed: certificates are not renewed (run site.yml)")
        return [host, name, "missing (not-found)", "", ""]
    if when in ("", "n/a", "0"):
        return [host, name, "never ran", "", "last renewal: none yet"]
    status = _int(renewal.get("exit_status"))
    if result != "success":
        report.problem(
            host,
            f"the last certificate renewal failed ({result}, exit status {status}, {when}): journalctl -u {name}",
        )
    return [
        host,
        name,
        "last run " + ("succeeded" if result == "success" else "failed"),
        "",
        f"last renewal: {result}, exit status {status}, {when}",
    ]


def _hub(report, facts, consumed, disk_min_free_percent):
    rows = []
    queue_sections = []
    for host, parts in facts.items():
        broker = parts.get("rabbitmq")
        if broker is not None:
            rows.append(_rabbitmq_row(report, host, broker, disk_min_free_percent))
            queue_sections.append((host, broker))
        mongodb = parts.get("mongodb")
        if mongodb is not None:
            rows.append(_mongodb_row(report, host, mongodb))
        renewal = (parts.get("tls") or {}).get("renewal")
        if renewal:
            rows.append(_renewal_row(report, host, renewal))
    report.section("HUB", _table(["HOST", "SERVICE", "STATE", "VERSION", "DETAILS"], rows) if rows else [])
    # Every node of a cluster lists the same queues: once, from the first that answers.
    clustered = [host for host, broker in queue_sections if broker.get("cluster")]
    listed = [host for host, broker in queue_sections if broker.get("cluster") and broker.get("queues") is not None]
    shown = (listed or clustered or [None])[0]
    for host, broker in queue_sections:
        if not broker.get("cluster") or host == shown:
            _queues(report, host, broker, consumed)


def _queues(report, host, broker, consumed):
    vhost = broker.get("vhost") or "?"
    title = f"QUEUES of vhost {vhost} on {host}"
    if broker.get("queues") is None:
        if broker.get("queues_error") and _service_state(broker.get("service"))[0] == "up":
            report.problem(host, f"cannot list the queues of vhost {vhost}: {_gist(broker['queues_error'])}")
        report.section(title, ["(not listed: the broker did not answer)"])
        return
    queues = sorted(broker["queues"], key=lambda queue: str(queue.get("name")))
    rows = []
    for queue in queues:
        name = str(queue.get("name"))
        ready, consumers = _int(queue.get("messages_ready")), _int(queue.get("consumers"))
        rows.append([name, ready, _int(queue.get("messages_unacknowledged")), consumers])
        # Only the queues the workers consume: a reply queue whose client left may
        # wait for its expiry with messages and no consumer, and that is fine.
        if name in consumed and ready > 0 and consumers == 0:
            report.problem(host, f"queue {name} has {ready} messages ready and no consumer: no worker takes its tasks")
        if name == broker.get("dead_letter_queue") and ready > 0:
            report.problem(
                host,
                f"{ready} tasks in the dead-letter queue {name}: each lost its worker at every delivery "
                "(rabbitmq_delivery_limit); read them (rabbitmqctl list_queues, a consumer of your own) before "
                "sending them again",
            )
    report.section(title, _table(["QUEUE", "READY", "UNACKED", "CONSUMERS"], rows) if rows else ["(no queues)"])


def _certificates(report, facts, now):
    rows = []
    for host, parts in facts.items():
        tls = parts.get("tls")
        if tls is None:
            continue
        renew_days = _int(tls.get("renew_days"), 30)
        for certificate in tls.get("certificates") or []:
            where = certificate.get("host") or host
            name = f"{certificate.get('name', 'certificate')} ({certificate.get('path', '?')})"
            end = _parse_time(certificate.get("not_after"))
            if end is None:
                rows.append([name, where, "unreadable", "?"])
                report.problem(
                    where,
                    f"cannot read {name}" + (f": {_gist(certificate['error'])}" if certificate.get("error") else ""),
                )
                continue
            left = end - now
            days = left.days
            rows.append([name, where, end.strftime("%Y-%m-%d %H:%M UTC"), days])
            if left.total_seconds() <= 0:
                report.problem(where, f"{name} expired on {end:%Y-%m-%d} ({-days} days ago)")
            elif left < datetime.timedelta(days=renew_days):
                report.problem(
                    where,
                    f"{name} expires on {end:%Y-%m-%d}, in {days} days (fewer than {renew_days}): {_renew_hint(tls)}",
                )
    report.section("CERTIFICATES", _table(["CERTIFICATE", "WHERE", "EXPIRES", "DAYS LEFT"], rows) if rows else [])


def _renew_hint(tls):
    mode = tls.get("mode")
    if mode == "acme":
        return "acme.sh should have renewed it; see the renewal above"
    if mode == "private_ca":
        return "run ansible-playbook site.yml (a CA is replaced by hand: roles/tls/README.md)"
    return "replace the provided files and run ansible-playbook site.yml"


def fleet_status(facts, failed=(), now=None, disk_min_free_percent=10):
    """The status of the fleet from facts, {host: {part: fleet_status_<part> fact}} (a part a host did not
    report is absent or None); failed: the hosts whose status tasks failed. Returns {"lines": the table,
    "problems": one "PROBLEM <host>: <what>" line each}. now (a datetime, or ISO or ASN.1 text) is for tests.
    """
    now = _now(now)
    facts = {
        str(host): {part: value for part, value in (parts or {}).items() if part in PARTS and value is not None}
        for host, parts in (facts or {}).items()
    }
    failed = {str(host) for host in failed or ()}
    report = _Report()
    report.lines.append(f"Fleet status at {now:%Y-%m-%d %H:%M} UTC: {len(facts)} host{'s' if len(facts) != 1 else ''}")
    silent = [host for host, parts in facts.items() if not parts]
    for host in silent:
        if host in failed:
            report.problem(host, "its status tasks failed (the error is above): nothing was read")
        else:
            report.problem(host, "unreachable: nothing was read")
    report.section(
        "HOSTS WITHOUT STATUS",
        _table(["HOST", "STATE"], [[host, "failed" if host in failed else "unreachable"] for host in silent])
        if silent
        else [],
    )
    reporting = {host: parts for host, parts in facts.items() if parts}
    consumed = _workers(report, reporting)
    _hub(report, reporting, consumed, _int(disk_min_free_percent, 10))
    _certificates(report, reporting, now)
    count = len(report.problems)
    report.lines.extend(["", f"{count} problem{'s' if count != 1 else ''}" + (", listed below." if count else ".")])
    return {"lines": report.lines, "problems": report.problems}


def fleet_status_facts(hosts, hostvars):
    """{host: {part: fleet_status_<part>}} of the named hosts, in their order, each part a host set, in the
    order of PARTS; a host that set none (unreachable, or its status tasks failed) has {}."""
    found = {}
    for host in hosts:
        # hostvars gives an undefined value, not a KeyError, for a host the inventory lacks.
        host_vars = hostvars[host] if host in hostvars else {}
        found[host] = {part: host_vars[f"fleet_status_{part}"] for part in PARTS if f"fleet_status_{part}" in host_vars}
    return found


class FilterModule:
    def filters(self):
        return {"fleet_status": fleet_status, "fleet_status_facts": fleet_status_facts}
