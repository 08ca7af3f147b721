"""Errors the store raises on purpose."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The database cannot be reached or used right now.

    Callers fail closed on it (reason code STORE_UNAVAILABLE): no evidence, no contact.
    """
