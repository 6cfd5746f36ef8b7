"""The operator's own app on the fleet: the example crawler (examples/crawler) on apps-worker1 (a thread pool
on the queue `crawl`, a default-queue instance and celery beat) and apps-worker2 (the default queue only,
with systemd limits), crawled from the operator's machine (apps-client)."""

import json
import shutil
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


def crawl(pages: list[int], timeout: int = 120, per_second: float = 0) -> dict:
    args = {"app_dir": APP_DIR, "base": BASE, "pages": pages, "timeout": timeout, "per_second": per_second}
    return probe(CLIENT, "crawl", args, python=f"{VENV}/bin/python", directory=TESTS)


def site_stats(hosts) -> dict:
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    return json.loads(hosts(CLIENT).check_output("python3 -c %s %s", fetch, f"{BASE}/stats"))


def fetched_lines(hosts) -> int:
    return int(hosts("apps-worker1").check_output("cat /var/lib/celery-worker/crawl/fetched.txt | wc -l"))


def test_the_operators_machine_sees_every_instance_of_both_workers(hosts):
    out = hosts(CLIENT).check_output(f"cd {APP_DIR} && {VENV}/bin/celery --app crawler inspect active_queues --json")
    queues = {node: sorted(queue["name"] for queue in consumed) for node, consumed in json.loads(out).items()}
    assert queues == {
        "crawl@apps-worker1": ["crawl"],
        "w1@apps-worker1": ["celery"],
        "w1@apps-worker2": ["celery"],
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
    assert "--queues crawl --pool threads --concurrency 8" in processes
    assert "--queues celery --concurrency 1 --max-tasks-per-child 100" in processes


@pytest.fixture(scope="module")
def second_release(tmp_path_factory) -> Path:
    """The crawler's next version: one module dropped (parsers/legacy.py), one added (parsers/words.py)."""
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
    return app


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


def test_a_new_release_rolls_out_in_batches_with_no_task_lost(hosts, inventory, second_release):
    crawled: dict = {}
    # 1,000 pages sent over about 80 s: the sending spans the deploy's restarts.
    load = threading.Thread(target=lambda: crawled.update(crawl(list(range(2000, 3000)), timeout=600, per_second=12)))
    load.start()
    time.sleep(5)
    started = time.monotonic()
    deploy = run_playbook(
        inventory,
        "workers.yml",
        "-e",
        f"celery_worker_app_source={second_release}",
        "-e",
        "celery_worker_restart_batch=1",
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
