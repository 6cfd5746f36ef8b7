"""Run on the operator's machine (the client) with the crawler's virtualenv: crawl pages, as the operator would.

args: {"app_dir", "base", "pages": [numbers], "timeout", "per_second" (optional)}. Sends one fetch per page
(routed to the queue `crawl` by the rendered settings), all at once or per_second a second, and waits for every
result; returns them, with what went wrong and when the sending began and ended (epoch seconds).
"""

import os
import sys
import time


def main(args: dict) -> dict:
    os.chdir(args["app_dir"])
    sys.path.insert(0, args["app_dir"])
    from celery import group
    from crawler.tasks import fetch

    started, began = time.monotonic(), time.time()
    urls = [f"{args['base']}/page/{number}" for number in args["pages"]]
    if args.get("per_second"):
        sent = []
        for url in urls:
            sent.append(fetch.delay(url))
            time.sleep(1 / args["per_second"])
    else:
        sent = group(fetch.s(url) for url in urls).apply_async().results
    ended = time.time()
    pages, errors = [], []
    for result in sent:
        try:
            pages.append(result.get(timeout=args["timeout"]))
        except Exception as exc:  # a lost or failed task: counted, not raised
            errors.append(f"{type(exc).__name__}: {exc}")
    return {
        "pages": pages,
        "errors": errors[:10],
        "failed": len(errors),
        "seconds": time.monotonic() - started,
        "sending": [began, ended],
    }
