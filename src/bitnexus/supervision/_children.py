"""Internal helpers shared by the static and dynamic supervisors."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from bitnexus.actors import KILL, SHUTDOWN, Pid, StartIgnored
from bitnexus.exceptions import StartError

if TYPE_CHECKING:
    from bitnexus.actors import Actor
    from bitnexus.supervision.spec import ChildSpec

RESTARTING = "restarting"


class Child:
    """A supervisor's record of one child: its spec and current pid."""

    __slots__ = ("pid", "restarts", "spec")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.pid: Pid[Any] | str | None = None  # a Pid, RESTARTING, or None
        self.restarts = 0

    @property
    def running(self) -> bool:
        return isinstance(self.pid, Pid)


class Intensity:
    """Counts restarts in a sliding window (INT-1)."""

    __slots__ = ("max_restarts", "max_seconds", "stamps")

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.stamps: deque[float] = deque()

    def add(self) -> bool:
        """Record one restart. False when the limit is exceeded."""
        now = time.monotonic()
        self.stamps.append(now)
        while self.stamps and now - self.stamps[0] > self.max_seconds:
            self.stamps.popleft()
        return len(self.stamps) <= self.max_restarts


async def start_child(sup: Actor, child: Child, extra: tuple[Any, ...] = ()) -> Pid[Any] | None:
    """Start ``child`` linked to ``sup``. Returns None when init said Ignore.

    Raises:
        StartError: the start function failed; ``reason`` says why.
    """
    try:
        pid = await child.spec.start(sup.node, sup.pid, *extra)
    except StartIgnored:
        return None
    except StartError:
        raise
    except Exception as exc:  # noqa: BLE001 - a raising start function is a start error (DYN-6)
        raise StartError(exc) from exc
    if pid is not None and not isinstance(pid, Pid):
        raise StartError(("bad_return", pid))
    if pid is not None and pid._proc is not None:
        pid._proc.restarts = child.restarts
    return pid


async def shutdown_child(sup: Actor, pid: Pid[Any], timeout: float | None) -> Any:
    """Stop one child as OTP does (SHD-2..5) and return the reason it exited with.

    ``timeout`` 0 means brutal kill, None means wait forever.
    """
    proc = pid._proc
    if proc is None:
        return "noproc"
    sup.unlink(pid)  # SHD-5: unlink first so no stray Exit reaches us
    done = proc.wait_exit()
    if timeout == 0:
        sup.exit(pid, KILL)
        return await done
    sup.exit(pid, SHUTDOWN)
    if timeout is None:
        return await done
    try:
        return await asyncio.wait_for(asyncio.shield(done), timeout)
    except asyncio.TimeoutError:
        sup.exit(pid, KILL)
        return await done
