#!/usr/bin/env python3
"""Fail when a canary secret shows up in a log.

Every molecule scenario gets passwords whose values start with ``canary-``
(.config/molecule/config.yml). A role that forgets ``no_log`` prints them in
a diff, a result or an error; this check finds them in the saved output.

Usage: check_secrets.py LOG [LOG ...]   (exit 1 and the offending lines on a hit)
"""

import re
import sys

CANARY = re.compile(r"canary-[a-z]+-[a-z]+-[0-9a-f]{6}")


def leaks(text: str) -> list[str]:
    """Return the lines of ``text`` that contain a canary value."""
    return [line for line in text.splitlines() if CANARY.search(line)]


def main(paths: list[str]) -> int:
    found = False
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as log:
            hits = leaks(log.read())
        for line in hits[:5]:
            print(f"{path}: secret in output: {line.strip()[:200]}")
        found = found or bool(hits)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
