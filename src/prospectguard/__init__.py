"""prospectguard: a compliance gate for telephone and SMS prospecting in France."""

__version__ = "0.1.0"
