"""The first release's word counter (the second release replaces it with crawler.parsers.words)."""


def words(text: str) -> int:
    return len(text.split())
