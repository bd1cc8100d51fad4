"""Logs (structlog, redacted) and metrics."""
