"""Internal helpers shared by the static and dynamic supervisors."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from bitnexus.actors import KILL, SHUTDOWN, Pid, StartIgnored, is_normal_exit
from bitnexus.exceptions import StartError

if TYPE_CHECKING:
    from bitnexus.actors import Actor
    from bitnexus.supervision.spec import ChildSpec

RESTARTING = "restarting"
HISTORY_SIZE = 20
"""Exits remembered per child for the admin detail view."""
_TRACEBACK_CHARS = 8000


class Child:
    """A supervisor's record of one child: its spec, current pid and recent exits."""

    __slots__ = ("history", "pid", "restarts", "spec")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.pid: Pid[Any] | str | None = None  # a Pid, RESTARTING, or None
        self.restarts = 0
        # Made on the first exit: most children never exit, and a dynamic
        # supervisor may hold 100,000 of them.
        self.history: deque[dict[str, Any]] | None = None

    @property
    def running(self) -> bool:
        return isinstance(self.pid, Pid)

    def record_exit(self, pid: Pid[Any], reason: Any) -> None:
        """Remember one exit (time, reason, traceback); the last HISTORY_SIZE are kept."""
        if self.history is None:
            self.history = deque(maxlen=HISTORY_SIZE)
        exc = reason if isinstance(reason, BaseException) else None
        # Formatted now, so the record holds text and no frames stay alive.
        trace = "".join(traceback.format_exception(exc))[-_TRACEBACK_CHARS:] if exc else None
        self.history.append(
            {
                "at": time.time(),
                "pid": str(pid),
                "reason": repr(reason)[:500],
                "crash": not is_normal_exit(reason),
                "traceback": trace,
            }
        )

    def history_view(self) -> dict[str, Any]:
        """``{"restarts": [exit records, oldest first], "last_crash": record | None, ...}``."""
        entries = list(self.history) if self.history else []
        last_crash = next((e for e in reversed(entries) if e["crash"]), None)
        return {
            "id": _id_text(self.spec.id),
            "restart_count": self.restarts,
            "restarts": entries,
            "last_crash": last_crash,
        }


def _id_text(child_id: Any) -> Any:
    return child_id if child_id is None or isinstance(child_id, str | int) else str(child_id)


def no_history() -> dict[str, Any]:
    """What ``child_history`` answers for a pid that is not a child."""
    return {"restarts": [], "last_crash": None}


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
    node = sup.node
    # The admin tree must show the restart count from the first moment the
    # new process exists, so the node stamps it at spawn time.
    node._pending_restarts[sup.pid] = child.restarts
    try:
        pid = await child.spec.start(node, sup.pid, *extra)
    except StartIgnored:
        return None
    except StartError:
        raise
    except Exception as exc:  # a raising start function is a start error (DYN-6)
        raise StartError(exc) from exc
    finally:
        node._pending_restarts.pop(sup.pid, None)
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
    except TimeoutError:
        sup.exit(pid, KILL)
        return await done
