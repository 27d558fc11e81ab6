"""Idle timeout for one mount's WebSockets: one sweeper, not a timer per socket.

A connection that sends no frame for ``idle_timeout`` seconds is closed with
1002. Instead of a timer and a closure per socket (hundreds of bytes each, at
tens of thousands of sockets), every socket keeps ``last_seen`` on its
handle and one timer per mount sweeps them every quarter of the timeout, so
an idle socket closes between 1 and 1.25 times ``idle_timeout`` after its
last frame. The timer only runs while the mount has sockets.

Example::

    sweeper = IdleSweeper(idle_timeout=60.0, code=1002)
    sweeper.watch(handle)     # after the upgrade
    handle.last_seen = loop.time()   # on every frame
    sweeper.forget(handle)    # when the socket ends
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["IdleSweeper"]


class IdleSweeper:
    """Closes the watched handles that have been silent for ``idle_timeout`` s.

    Args:
        idle_timeout: seconds of silence allowed.
        code: the close code for idle sockets.
    """

    __slots__ = ("_handles", "_timer", "code", "idle_timeout", "interval")

    def __init__(self, idle_timeout: float, code: int) -> None:
        self.idle_timeout = idle_timeout
        self.interval = idle_timeout / 4
        self.code = code
        self._handles: dict[Any, None] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._handles)

    def watch(self, handle: Any) -> None:
        """Start watching ``handle`` (it needs ``last_seen`` and ``close``)."""
        loop = asyncio.get_running_loop()
        handle.last_seen = loop.time()
        self._handles[handle] = None
        if self._timer is None:
            self._timer = loop.call_later(self.interval, self._sweep)

    def forget(self, handle: Any) -> None:
        """Stop watching ``handle``; the timer stops with the last one."""
        self._handles.pop(handle, None)
        if not self._handles and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() - self.idle_timeout
        idle = [h for h in self._handles if h.last_seen <= deadline]
        for handle in idle:
            self._handles.pop(handle, None)
            handle.close(self.code, "idle timeout")
        self._timer = loop.call_later(self.interval, self._sweep) if self._handles else None
