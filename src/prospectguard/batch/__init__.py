"""Batch scrub of prospect files."""
