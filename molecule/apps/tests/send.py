"""Run on the operator's machine with the crawler's virtualenv: send fetches, each with its own options, and wait.

args: {"app_dir", "calls": [{"url", "queue" (optional), "countdown" (optional)}], "timeout", "wait" (optional:
false sends and returns the task ids)}. Results are awaited soonest due first. Returns per call, in order: the
task id, when it was sent (epoch seconds), and once it ended (within timeout): whether it succeeded, the error's
type and text, and when its result came.
"""

import os
import sys
import time


def main(args: dict) -> dict:
    os.chdir(args["app_dir"])
    sys.path.insert(0, args["app_dir"])
    from crawler.tasks import fetch

    sent = []
    for call in args["calls"]:
        options = {key: call[key] for key in ("queue", "countdown") if key in call}
        sent.append((fetch.apply_async(args=[call["url"]], **options), time.time()))
    calls = [{"id": result.id, "sent": at} for result, at in sent]
    if not args.get("wait", True):
        return {"calls": calls}
    deadline = time.monotonic() + args["timeout"]
    # The soonest due first: each result's time is when it came, not when the one before it did.
    order = sorted(range(len(sent)), key=lambda index: args["calls"][index].get("countdown", 0))
    for index in order:
        (result, _), call = sent[index], calls[index]
        try:
            page = result.get(timeout=max(1.0, deadline - time.monotonic()))
            call.update(ok=True, node=page["node"])
        except Exception as exc:  # the task's own failure, or no answer in time
            call.update(ok=False, error=type(exc).__name__, text=str(exc)[:300])
        call["ended"] = time.time()
    return {"calls": calls}
