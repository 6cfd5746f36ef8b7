"""The seed pages, a data file shipped inside the package."""

from importlib import resources


def seeds() -> list[str]:
    text = resources.files("crawler").joinpath("data/seeds.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
