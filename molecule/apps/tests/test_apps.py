"""The operator's own app on the fleet: the example crawler (examples/crawler) on apps-worker1 (a thread pool
on the queue `crawl`, a default-queue instance and celery beat) and apps-worker2 (the default queue with
systemd limits, and a solo instance), crawled from the operator's machine (apps-client).

The tests run in this file's order. A task past its limit on every pool is sent first and checked once the
crawl is done; then a task past its memory, a broker restart under long tasks, 200 delayed tasks left to wait
while a deploy is cut short after the links moved and a rolling deploy (the scheduler moving to apps-worker2)
finishes it, and the delayed tasks checked last. Executions are counted on the site (apps-pages), which
records every request for a page, when it began and ended, and whether it was sent whole.
"""

import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from checks import ROOT, probe, run_playbook

WORKERS = ["apps-worker1", "apps-worker2"]
CLIENT = "apps-client"
APP_DIR = "/opt/client/crawler"
VENV = "/opt/client/venv"
BASE = "http://apps-pages:8080"
RELEASE = "/opt/celery-fleet/worker/app"
TESTS = Path(__file__).resolve().parent
TOKEN_MARK = "canary-crawler-token-4d81e2"
HUB = "apps-hub"
# fleet_task_time_limit in molecule.yml.
LIMIT = 60
# Every unit that runs the crawler, by host.
UNITS = {
    "apps-worker1": ["celery-worker@crawl", "celery-worker@w1", "celery-worker@green", "celery-beat"],
    "apps-worker2": ["celery-worker@w1", "celery-worker@solo"],
}
# The worker instances of apps-worker1, which a deploy cut short leaves behind.
CRAWLER_UNITS = ["celery-worker@crawl", "celery-worker@w1", "celery-worker@green"]
# Which queue reaches which pool.
POOLS = {"threads": "crawl", "prefork": "celery", "solo": "solo", "gevent": "green"}
# What ends a task past the limit, and when (seconds after the limit): Celery's gevent pool applies only the
# hard limit (celery/concurrency/gevent.py: apply_timeout), the limit plus celery_worker_task_kill_grace.
LIMIT_ERRORS = dict.fromkeys(POOLS, ("SoftTimeLimitExceeded", 0)) | {"gevent": ("TimeLimitExceeded", 30)}
# The scheduler moves to apps-worker2 with the second release, and stays there (a host variable, per host).
BEAT_ON_WORKER2 = ["-e", '{"celery_worker_beat": "{{ inventory_hostname == \'apps-worker2\' }}"}']
# What RabbitMQ logs when its consumer timeout closes a channel, and what the worker logs then.
TIMED_OUT = ("delivery acknowledgement on channel", "waiting for a consumer acknowledgement")


def crawl(pages: list[int], timeout: int = 120, per_second: float = 0) -> dict:
    args = {"app_dir": APP_DIR, "base": BASE, "pages": pages, "timeout": timeout, "per_second": per_second}
    return probe(CLIENT, "crawl", args, python=f"{VENV}/bin/python", directory=TESTS)


def site_stats(hosts) -> dict:
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    return json.loads(hosts(CLIENT).check_output("python3 -c %s %s", fetch, f"{BASE}/stats"))


def send(calls: list[dict], timeout: int = 120, wait: bool = True) -> list[dict]:
    """Send fetches from the operator's machine (tests/send.py), each with its queue and countdown."""
    args = {"app_dir": APP_DIR, "calls": calls, "timeout": timeout, "wait": wait}
    # The probe outlives the waits it makes (a delayed batch waits past its countdown).
    return probe(CLIENT, "send", args, python=f"{VENV}/bin/python", directory=TESTS, timeout=timeout + 120)["calls"]


def units(hosts) -> dict:
    """Each crawler unit's state, main process and restarts, as systemd has them."""
    found = {}
    for name, unit_names in UNITS.items():
        for unit in unit_names:
            shown = hosts(name).check_output(f"systemctl show {unit} --property ActiveState,MainPID,NRestarts")
            found[f"{name}/{unit}"] = dict(line.split("=", 1) for line in shown.splitlines())
    return found


def timed_out_channels(hosts, since: float) -> list[str]:
    """Lines where the broker's consumer timeout closed a channel, on the hub or a worker, since `since`."""
    command = f"journalctl --since @{int(since)} --no-pager --output cat"
    lines = hosts(HUB).check_output(f"{command} -u rabbitmq-server; cat /var/log/rabbitmq/*.log 2>/dev/null")
    lines += "".join(hosts(name).check_output(f"{command} -u 'celery-*'") for name in WORKERS)
    return [line for line in lines.splitlines() if any(mark in line for mark in TIMED_OUT)]


def requests_for(hosts, path: str, whole: int = 0, timeout: float = 0) -> list[dict]:
    """The site's record of the requests for one slow or big page, first first; waits for `whole` whole ones."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(site_stats(hosts)["requests"].get(path, []), key=lambda request: request["start"])
        if sum(request["whole"] for request in found) >= whole or time.monotonic() > deadline:
            return found
        time.sleep(2)


def overlapping(requests: list[dict]) -> int:
    """How many requests began while an earlier one for the same page was still going (the site notices a
    client gone at its next write: 0.2 s)."""
    return sum(1 for before, after in itertools.pairwise(requests) if after["start"] < (before["end"] or 1e12) - 0.5)


def fetched_lines(hosts) -> int:
    return int(hosts("apps-worker1").check_output("cat /var/lib/celery-worker/crawl/fetched.txt | wc -l"))


# Tasks past their limit, one per pool, sent first and checked once the crawl below is done (they take a
# minute): a 200 s page under fleet_task_time_limit (60 s).
LIMITED = {pool: f"/slow/{number}" for number, pool in enumerate(POOLS, start=1)}


@pytest.fixture(scope="module")
def limit_batch(hosts) -> dict:
    batch: dict = {"units": units(hosts), "since": time.time()}
    calls = [{"url": f"{BASE}{LIMITED[pool]}?seconds=200", "queue": queue} for pool, queue in POOLS.items()]
    batch["thread"] = threading.Thread(target=lambda: batch.update(calls=send(calls, 180)))
    batch["thread"].start()
    return batch


def test_the_operators_machine_sees_every_instance_of_both_workers(hosts, limit_batch):
    out = hosts(CLIENT).check_output(f"cd {APP_DIR} && {VENV}/bin/celery --app crawler inspect active_queues --json")
    queues = {node: sorted(queue["name"] for queue in consumed) for node, consumed in json.loads(out).items()}
    assert queues == {
        "crawl@apps-worker1": ["crawl"],
        "w1@apps-worker1": ["celery"],
        "green@apps-worker1": ["green"],
        "w1@apps-worker2": ["celery", "heavy"],
        "solo@apps-worker2": ["solo"],
    }


@pytest.fixture(scope="module")
def first_crawl(hosts) -> dict:
    before = (
        fetched_lines(hosts) if hosts("apps-worker1").file("/var/lib/celery-worker/crawl/fetched.txt").exists else 0
    )
    result = crawl(list(range(2000)))
    result["fetched_before"] = before
    print(f"report: 2000 pages crawled in {result['seconds']:.1f} s from the operator's machine")
    return result


def test_every_page_is_fetched_once_and_its_result_returned(hosts, first_crawl):
    assert first_crawl["failed"] == 0, first_crawl["errors"]
    urls = [page["url"] for page in first_crawl["pages"]]
    assert sorted(urls) == sorted(f"{BASE}/page/{number}" for number in range(2000))
    assert {page["title"] for page in first_crawl["pages"][:3]} <= {f"Page {n}" for n in range(2000)}
    assert {page["kind"] for page in first_crawl["pages"]} == {"text/html"}
    stats = site_stats(hosts)
    # Each page served once, and never to a request without the token.
    assert {int(page): count for page, count in stats["hits"].items() if int(page) < 2000} == {
        n: 1 for n in range(2000)
    }
    assert stats["refused"] == 0


def test_the_crawl_queue_runs_only_on_the_instance_that_consumes_it(first_crawl):
    assert {page["node"] for page in first_crawl["pages"]} == {"crawl@apps-worker1"}


def test_each_fetch_is_written_to_the_instances_state_folder(hosts, first_crawl):
    assert fetched_lines(hosts) == first_crawl["fetched_before"] + 2000
    state = hosts("apps-worker1").file("/var/lib/celery-worker/crawl")
    assert (state.user, state.mode & 0o777) == ("celery-worker", 0o755)


def test_beat_runs_on_one_host_and_its_tasks_run_on_the_default_queue(hosts):
    scheduler, other = hosts("apps-worker1"), hosts("apps-worker2")
    assert scheduler.service("celery-beat").is_running
    assert not other.file("/etc/systemd/system/celery-beat.service").exists
    assert other.run("systemctl cat celery-beat").rc != 0
    time.sleep(5)
    sent = scheduler.check_output(
        "journalctl -u celery-beat --no-pager --output cat | grep -c 'Sending due task heartbeat' || true"
    )
    assert int(sent) >= 2
    beats = sum(
        int(hosts(name).check_output("cat /var/lib/celery-worker/w1/heartbeats.txt 2>/dev/null | wc -l"))
        for name in WORKERS
    )
    assert beats >= 2


def test_the_token_reaches_the_app_and_no_log_unit_or_command_line(hosts):
    for name in WORKERS:
        worker = hosts(name)
        environment = worker.file("/etc/celery-fleet/worker/environment")
        assert (environment.user, environment.group, environment.mode) == ("root", "root", 0o600)
        shown = worker.check_output(
            "journalctl -u 'celery-worker@*' -u celery-beat --no-pager --output cat; "
            "systemctl show 'celery-worker@*' celery-beat; cat /etc/systemd/system/celery-*.service; ps -eo args"
        )
        assert TOKEN_MARK not in shown
    # The site refused nothing: every fetch carried the token, special characters and all.
    assert site_stats(hosts)["refused"] == 0


def test_the_instances_are_shaped_as_their_host_says(hosts):
    small = hosts("apps-worker2").check_output(
        "systemctl show celery-worker@w1 --property MemoryMax,CPUQuotaPerSecUSec"
    )
    assert "MemoryMax=536870912" in small and "CPUQuotaPerSecUSec=1.500000s" in small
    processes = hosts("apps-worker1").check_output("ps -eo args")
    assert "--hostname crawl@apps-worker1" in processes
    # threads and solo run on the fleet's thread pool (celery_fleet_pool), which holds to the time limits.
    assert "--queues crawl --pool custom --concurrency 8" in processes
    assert "--queues celery --concurrency 1 --max-tasks-per-child 100" in processes
    assert "--queues green --pool gevent --concurrency 20" in processes
    assert "--queues solo --pool custom --concurrency 1" in hosts("apps-worker2").check_output("ps -eo args")
    pool = hosts("apps-worker1").file("/etc/celery-fleet/worker/instances/crawl.env").content_string
    assert 'CELERY_CUSTOM_WORKER_POOL="celery_fleet_pool:ThreadPool"' in pool


def test_a_task_past_its_memory_limit_fails_once_and_its_instance_goes_on(hosts):
    # w1@apps-worker2 (prefork) has MemoryMax=512M: a 1 GiB page is more than it may hold.
    before = units(hosts)
    [call] = send([{"url": f"{BASE}/big/1?mb=1024", "queue": "heavy"}], 120)
    assert (call["ok"], call.get("error")) == (False, "WorkerLostError"), call
    time.sleep(10)
    assert len(requests_for(hosts, "/big/1")) == 1
    assert units(hosts) == before
    killed = hosts("apps-worker2").check_output("journalctl -k --no-pager -o cat | grep -ci 'killed process' || true")
    print(f"report: a task past MemoryMax: 1 execution, WorkerLostError; kernel OOM kills seen: {killed}")


def test_a_task_past_its_limit_fails_once_on_every_pool(hosts, limit_batch):
    limit_batch["thread"].join(timeout=200)
    for pool, call in zip(POOLS, limit_batch["calls"], strict=True):
        # Celery's limit, the caller told, at the limit; not the broker's timeout, later.
        error, after = LIMIT_ERRORS[pool]
        assert (call["ok"], call.get("error")) == (False, error), (pool, call)
        assert LIMIT + after - 1 < call["ended"] - call["sent"] < LIMIT + after + 15, (pool, call)
    time.sleep(5)
    for pool, path in LIMITED.items():
        requests = requests_for(hosts, path)
        # Run once (one request), stopped at the limit (the page was not sent whole).
        assert len(requests) == 1 and not requests[0]["whole"], (pool, requests)
        assert requests[0]["end"] - requests[0]["start"] < LIMIT + LIMIT_ERRORS[pool][1] + 5, (pool, requests)
        ran = requests[0]["end"] - requests[0]["start"]
        print(f"report: a 200 s task on {pool}: 1 execution, stopped after {ran:.1f} s")
    assert units(hosts) == limit_batch["units"]
    assert timed_out_channels(hosts, limit_batch["since"]) == []


def test_a_broker_restart_stops_long_tasks_and_runs_each_again_never_twice_at_once(hosts):
    before, since = units(hosts), time.time()
    pages = {pool: f"/slow/{10 + number}" for number, pool in enumerate(POOLS, start=1)}
    send([{"url": f"{BASE}{pages[pool]}?seconds=15", "queue": queue} for pool, queue in POOLS.items()], wait=False)
    time.sleep(6)
    restarted = time.time()
    hosts(HUB).check_output("systemctl restart rabbitmq-server")
    for pool, path in pages.items():
        requests = requests_for(hosts, path, whole=1, timeout=240)
        # The first run stopped when the connection went, then one whole run, after it.
        assert sum(request["whole"] for request in requests) == 1, (pool, requests)
        assert overlapping(requests) == 0, (pool, requests)
        assert requests[0]["end"] < restarted + 15, (pool, requests)
        print(f"report: broker restart under a 15 s task on {pool}: {len(requests)} executions, 0 overlapping")
    # No instance exited: the same main processes, no restart.
    assert units(hosts) == before
    assert timed_out_channels(hosts, since) == []


# Longer than the consumer timeout the broker had before it was turned off (fleet_task_time_limit + 90 s,
# enforced once a minute): a delayed task held unacknowledged that long closed its worker's channel.
COUNTDOWN = 220
DELAYED = range(3000, 3200)
IMMEDIATE = range(3200, 3250)


@pytest.fixture(scope="module")
def delayed_batch() -> dict:
    """200 fetches with a countdown, then 50 without, on the same queue; the results are awaited in a thread
    while the tests below deploy (the last test reads them)."""
    calls = [{"url": f"{BASE}/page/{n}", "countdown": COUNTDOWN} for n in DELAYED]
    calls += [{"url": f"{BASE}/page/{n}"} for n in IMMEDIATE]
    batch: dict = {"since": time.time()}
    batch["thread"] = threading.Thread(target=lambda: batch.update(calls=send(calls, COUNTDOWN + 400)))
    batch["thread"].start()
    return batch


def test_tasks_sent_after_delayed_ones_run_at_once(hosts, delayed_batch):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        times = site_stats(hosts)["times"]
        if all(str(n) in times for n in IMMEDIATE):
            break
        time.sleep(1)
    first = {n: times.get(str(n), [None])[0] for n in IMMEDIATE}
    assert None not in first.values(), "immediate tasks waited behind delayed ones"
    waited = max(first.values()) - delayed_batch["since"]
    assert waited < 30
    print(f"report: 50 tasks sent after 200 delayed ones all ran within {waited:.1f} s")


@pytest.fixture(scope="module")
def second_release(tmp_path_factory) -> Path:
    """The crawler's next version: one module dropped (parsers/legacy.py), one added (parsers/words.py), and a
    guard at import: it wants its secret from the environment, and refuses to run as root."""
    app = tmp_path_factory.mktemp("release") / "crawler"
    shutil.copytree(ROOT / "examples/crawler", app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "crawler/parsers/legacy.py").unlink()
    (app / "crawler/parsers/words.py").write_text(
        '"""Words of a page."""\n\n\ndef words(text):\n    return len(text.split())\n'
    )
    tasks = app / "crawler/tasks.py"
    tasks.write_text(
        tasks.read_text().replace("import html, legacy", "import html, words").replace("legacy.words(", "words.words(")
    )
    worker = app / "crawler/worker.py"
    guard = (
        "import os\n\n"
        "if os.geteuid() == 0:\n"
        "    raise RuntimeError('the crawler must not run as root')\n"
        "TOKEN = os.environ['CRAWLER_TOKEN']\n\n"
    )
    text = worker.read_text()
    worker.write_text(text.replace("from celery import Celery", guard + "from celery import Celery"))
    return app


def beat_sends(hosts, since: float) -> list[tuple[float, str]]:
    """When each scheduler sent the periodic task (epoch seconds, host), both hosts' journals merged."""
    sends = []
    for name in WORKERS:
        out = hosts(name).check_output(
            f"journalctl -u celery-beat --since @{int(since)} --no-pager --output short-unix"
            " | grep 'Sending due task heartbeat' || true"
        )
        sends += [(float(line.split()[0]), name) for line in out.splitlines() if line.strip()]
    return sorted(sends)


def running_release(host, unit_name: str) -> str:
    """The app release a unit's main process runs (its working folder), read as the service user: a
    container's root may not read another user's /proc/<pid>/cwd."""
    pid = host.check_output(f"systemctl show {unit_name} --property MainPID --value")
    found = subprocess.run(
        ["docker", "exec", "-u", "celery-worker", host.backend.name, "readlink", f"/proc/{pid}/cwd"],
        check=True,
        capture_output=True,
        text=True,
    )
    return found.stdout.strip()


def active_span(host, unit_name: str) -> tuple[float, float]:
    """When a unit last stopped being active and when it became active again (epoch seconds, to the µs)."""
    shown = host.check_output(
        f"systemctl show {unit_name} --timestamp=us+utc --property ActiveExitTimestamp,ActiveEnterTimestamp"
    )
    values = dict(line.split("=", 1) for line in shown.splitlines())

    def epoch(text: str) -> float:
        # e.g. "Tue 2026-12-01 16:43:36.123456 UTC"
        return datetime.strptime(text.split(" ", 1)[1], "%Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC).timestamp()

    return epoch(values["ActiveExitTimestamp"]), epoch(values["ActiveEnterTimestamp"])


def test_a_deploy_cut_short_after_the_links_moved_leaves_the_old_release_running(hosts, inventory, second_release):
    """The second release on apps-worker1 alone, its run killed between the links' move and the restart (its
    handler): the instances run on with the release before. The rolling deploy below must restart them."""
    worker = hosts("apps-worker1")
    old = worker.check_output(f"readlink -f {RELEASE}")
    source = f"celery_worker_app_source={second_release}"
    run = subprocess.Popen(
        ["ansible-playbook", "-i", inventory, "workers.yml", "--limit", "apps-worker1", "-e", source],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while worker.check_output(f"readlink -f {RELEASE}") == old and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert worker.check_output(f"readlink -f {RELEASE}") != old
    assert {unit: running_release(worker, unit) for unit in CRAWLER_UNITS} == dict.fromkeys(CRAWLER_UNITS, old)


def test_a_new_release_rolls_out_in_batches_with_no_task_lost(hosts, inventory, second_release):
    crawled: dict = {}
    # 1,000 pages sent over about 80 s: the sending spans the deploy's restarts.
    load = threading.Thread(target=lambda: crawled.update(crawl(list(range(2000, 3000)), timeout=600, per_second=12)))
    load.start()
    time.sleep(5)
    started, since = time.monotonic(), time.time()
    # With it, the scheduler moves from apps-worker1 to apps-worker2.
    deploy = run_playbook(
        inventory,
        "workers.yml",
        "-e",
        f"celery_worker_app_source={second_release}",
        "-e",
        "celery_worker_restart_batch=1",
        *BEAT_ON_WORKER2,
    )
    deployed = time.monotonic() - started
    load.join(timeout=900)
    assert deploy.returncode == 0, deploy.summary() + deploy.output
    assert crawled.get("failed") == 0 and len(crawled["pages"]) == 1000, crawled.get("errors")
    assert sorted(page["url"] for page in crawled["pages"]) == sorted(f"{BASE}/page/{n}" for n in range(2000, 3000))
    # The crawl queue's only consumer restarted while pages were being sent.
    stopped, back = active_span(hosts("apps-worker1"), "celery-worker@crawl")
    began, ended = crawled["sending"]
    assert began < stopped <= back < ended, (crawled["sending"], stopped, back)
    print(
        f"report: the new release rolled out in {deployed:.0f} s, one worker at a time, while 1000 pages were sent; "
        f"the crawl queue's one consumer was down {back - stopped:.1f} s, the default queue kept one worker of two"
    )
    for name in WORKERS:
        worker = hosts(name)
        assert not worker.file(f"{RELEASE}/crawler/parsers/legacy.py").exists
        assert worker.file(f"{RELEASE}/crawler/parsers/words.py").exists
    # The state folder outlived the restarts.
    assert fetched_lines(hosts) >= 3000
    # One scheduler at every moment of the move: never two sends of the 2 s task within a second.
    sends = beat_sends(hosts, since)
    assert {host for _, host in sends} == set(WORKERS), sends
    gaps = [after - before for (before, _), (after, _) in itertools.pairwise(sends)]
    assert min(gaps) > 1.0, sends
    assert not hosts("apps-worker1").file("/etc/systemd/system/celery-beat.service").exists
    assert hosts("apps-worker2").service("celery-beat").is_running
    # Every instance runs the release the links name, apps-worker1's too (the cut run left it on the one before).
    for name in WORKERS:
        current = hosts(name).check_output(f"readlink -f {RELEASE}")
        units_here = [unit for unit in UNITS[name] if unit != "celery-beat"]
        assert {unit: running_release(hosts(name), unit) for unit in units_here} == dict.fromkeys(units_here, current)
    print(f"report: the scheduler moved during the deploy: {len(sends)} sends, none closer than {min(gaps):.2f} s")


def test_the_release_reads_its_secret_at_import_and_never_runs_as_root(inventory):
    # The second release raises at import as root or without CRAWLER_TOKEN: the deploy above checked it
    # (import check, ping) as the service user with the unit's environment; status asks every node again.
    status = run_playbook(inventory, "playbooks/status.yml", *BEAT_ON_WORKER2)
    assert status.returncode == 0, status.summary() + status.output


def test_delayed_tasks_run_once_each_near_their_time_with_no_channel_closed(hosts, delayed_batch):
    delayed_batch["thread"].join(timeout=COUNTDOWN + 600)
    calls = delayed_batch["calls"]
    failed = [call for call in calls if not call["ok"]]
    assert failed == [], failed[:5]
    times = site_stats(hosts)["times"]
    runs = {n: times.get(str(n), []) for n in DELAYED}
    assert {n: len(at) for n, at in runs.items()} == dict.fromkeys(DELAYED, 1)
    lateness = [runs[n][0] - (call["sent"] + COUNTDOWN) for n, call in zip(DELAYED, calls, strict=False)]
    assert min(lateness) > -1 and max(lateness) < 60, (min(lateness), max(lateness))
    assert timed_out_channels(hosts, delayed_batch["since"]) == []
    print(
        f"report: 200 tasks with a {COUNTDOWN} s countdown ran once each, {min(lateness):.1f} to {max(lateness):.1f} s"
        " after their time, no channel closed (with two deploys and a restart of the crawl instance meanwhile)"
    )
