"""Word counting, the map and reduce steps of the map-reduce example.

Plain functions without Celery, so they can be tested and reused alone.
"""

import re
from collections import Counter
from collections.abc import Iterable, Mapping

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def count_words(text: str) -> dict[str, int]:
    """Map: how often each word occurs in one text (case-insensitive)."""
    return dict(Counter(word.lower() for word in _WORD.findall(text)))


def merge_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Reduce: add up the counts of several texts, most frequent word first."""
    total: Counter[str] = Counter()
    for partial in counts:
        total.update(partial)
    return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))
