"""Show the fleet at work, from the operator's machine.

Run from app/ after the controller playbook rendered celeryconfig.py:
    python demo.py
It lists the worker nodes online, computes add(2, 3) and a word count
(map-reduce) on the workers, and says which node ran each task. The nodes
come from Celery's task events, switched on for the demo and off again
after it, as `celery events` does.
"""

import sys
import threading
import time

from celery import group

from proj.celery import app
from proj.tasks import add, count_words, merge_counts

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "the dog barks and the fox runs",
    "a quick brown dog sleeps",
    "over the hills the fox and the dog run",
]


class NodeWatcher:
    """Record which node ran each task, from the workers' task-succeeded events."""

    def __init__(self) -> None:
        self.nodes: dict[str, str] = {}
        self.ready = threading.Event()
        self.receiver = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _record(self, event: dict) -> None:
        self.nodes[event["uuid"]] = event["hostname"]

    def _run(self) -> None:
        with app.connection_for_read() as connection:
            self.receiver = app.events.Receiver(connection, handlers={"task-succeeded": self._record})
            self.ready.set()
            self.receiver.capture(limit=None, timeout=None, wakeup=True)

    def __enter__(self) -> "NodeWatcher":
        self.thread.start()
        self.ready.wait(10)
        app.control.enable_events()
        return self

    def __exit__(self, *exc) -> None:
        app.control.disable_events()
        if self.receiver is not None:
            self.receiver.should_stop = True

    def node_of(self, task_id: str, wait: float = 5.0) -> str:
        deadline = time.monotonic() + wait
        while task_id not in self.nodes and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.nodes.get(task_id, "?")


def main() -> int:
    replies = app.control.inspect(timeout=5).active() or {}
    if not replies:
        print("No worker answered: is the fleet up (ansible-playbook site.yml)?")
        return 1
    print(f"celery inspect active: {len(replies)} nodes online")
    for node, tasks in sorted(replies.items()):
        print(f"  {node}: {len(tasks)} active tasks")

    with NodeWatcher() as watcher:
        result = add.delay(2, 3)
        print(f"add(2, 3) = {result.get(timeout=30)}   (on {watcher.node_of(result.id)})")

        # Map: one task per text, spread over the workers; reduce: one more.
        mapped = group(count_words.s(text) for text in TEXTS).apply_async()
        counts = mapped.get(timeout=60)
        print(f"word count over {len(TEXTS)} texts:")
        for text, child in zip(TEXTS, mapped.results, strict=True):
            print(f"  map    {text[:30]!r:34} on {watcher.node_of(child.id)}")
        merged = merge_counts.delay(counts)
        top = sorted(merged.get(timeout=30).items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        print(f"  reduce {str(dict(top)) + ' ...':34} on {watcher.node_of(merged.id)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
