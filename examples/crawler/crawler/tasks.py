"""The crawler's tasks: fetch one page, and a heartbeat for the scheduler."""

import os
import socket

import magic
import requests

from crawler.parsers import html, legacy
from crawler.worker import app

# The site's token comes from the worker's environment (celery_worker_environment,
# from the vault): never in the code, the settings or a log.
TOKEN_HEADER = "X-Crawler-Token"


def _state_file(name: str) -> str:
    # systemd gives each worker instance a folder of its own that survives
    # restarts (StateDirectory=); elsewhere (the operator's machine), the
    # current folder.
    return os.path.join(os.environ.get("STATE_DIRECTORY", "."), name)


# A page the site could not serve just now is tried again later (30 s, then
# about 60 and 120: Celery's backoff), as a crawler does; each try is a task
# sent with a countdown.
@app.task(
    bind=True,
    acks_late=True,
    autoretry_for=(requests.ConnectionError, requests.Timeout),
    retry_backoff=30,
    retry_kwargs={"max_retries": 3},
)
def fetch(self, url: str) -> dict:
    response = requests.get(url, headers={TOKEN_HEADER: os.environ["CRAWLER_TOKEN"]}, timeout=10)
    response.raise_for_status()
    page = html.parse(response.text)
    with open(_state_file("fetched.txt"), "a", encoding="utf-8") as fetched:
        fetched.write(url + "\n")
    return {
        "url": url,
        "title": page["title"],
        "links": page["links"],
        "words": legacy.words(response.text),
        "kind": magic.from_buffer(response.content[:2048], mime=True),
        "node": self.request.hostname,
    }


@app.task(ignore_result=True)
def heartbeat() -> None:
    with open(_state_file("heartbeats.txt"), "a", encoding="utf-8") as beats:
        beats.write(socket.gethostname() + "\n")
