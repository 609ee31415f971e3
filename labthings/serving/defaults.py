"""Defaults of `labthings serve` that the command line shows without loading the server."""

from __future__ import annotations

__all__ = ["DEFAULT_THREADS"]

DEFAULT_THREADS = 1024
"""The most Python threads running the app at once: each request in progress and each
open event stream holds one, so this must stay above the stream cap with room for
ordinary requests. They are started on demand and end after 30 s unused."""
