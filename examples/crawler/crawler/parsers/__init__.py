"""Parsers of fetched pages, by content type."""
