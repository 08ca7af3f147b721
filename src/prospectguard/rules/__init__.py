"""The rules: one module per family, pure functions of (request, facts, law). `decide` runs them all."""

from prospectguard.rules.engine import decide

__all__ = ["decide"]
