"""Helpers for the tests that run a real ``bitnexus serve`` for the Node client."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

__all__ = ["free_port", "healthy"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers ``GET /healthz`` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
