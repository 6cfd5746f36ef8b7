"""The map and reduce steps of the word-count example (no Celery needed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))

from proj.wordcount import count_words, merge_counts


def test_count_words_ignores_case_and_punctuation():
    assert count_words("The cat; the CAT, and a dog.") == {"the": 2, "cat": 2, "and": 1, "a": 1, "dog": 1}


def test_count_words_keeps_apostrophes_inside_words():
    assert count_words("don't stop, it's 'fine'") == {"don't": 1, "stop": 1, "it's": 1, "fine": 1}


def test_count_words_of_nothing_is_empty():
    assert count_words("") == {}
    assert count_words(" \n\t-- ") == {}


def test_merge_counts_adds_and_orders_by_frequency_then_word():
    merged = merge_counts([{"b": 1, "a": 1}, {"b": 2}, {}, {"c": 3}])
    assert merged == {"b": 3, "c": 3, "a": 1}
    assert list(merged) == ["b", "c", "a"]


def test_map_then_reduce_equals_counting_everything_at_once():
    texts = ["the cat sat", "The dog sat down", "a cat"]
    assert merge_counts(count_words(t) for t in texts) == count_words(" ".join(texts))
