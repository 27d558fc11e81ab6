"""Exit reasons and the messages that signals turn into (:class:`Exit`, :class:`Down`).

Reasons follow OTP: ``"normal"``, ``"shutdown"``, ``("shutdown", term)``,
``"kill"`` (untrappable, arrives as ``"killed"``), ``"noproc"``, or the
exception a process crashed with.

Example::

    async def handle_info(self, message):
        match message:
            case Down(pid=pid, reason=reason) if is_normal_exit(reason):
                ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bitnexus.actors.pid import Pid, Ref

__all__ = [
    "KILL",
    "KILLED",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "Down",
    "Exit",
    "Timeout",
    "is_normal_exit",
    "shutdown_reason",
]

NORMAL = "normal"
SHUTDOWN = "shutdown"
KILL = "kill"
KILLED = "killed"
NOPROC = "noproc"


def shutdown_reason(term: Any) -> tuple[str, Any]:
    """Build ``("shutdown", term)``, a normal exit that carries a detail."""
    return (SHUTDOWN, term)


def is_normal_exit(reason: Any) -> bool:
    """True for ``normal``, ``shutdown`` and ``("shutdown", _)``: exits that
    are not crashes (no crash report; transient children stay down)."""
    if reason in (NORMAL, SHUTDOWN):
        return not isinstance(reason, BaseException)
    return reason.__class__ is tuple and len(reason) == 2 and reason[0] == SHUTDOWN


@dataclass(frozen=True, slots=True)
class Exit:
    """An exit signal turned into a message, for processes that trap exits."""

    pid: Pid[Any]
    reason: Any


@dataclass(frozen=True, slots=True)
class Down:
    """Sent once to a monitoring process when the monitored one exits."""

    ref: Ref
    pid: Pid[Any]
    reason: Any


class _TimeoutType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "Timeout"


Timeout = _TimeoutType()
"""The message ``handle_info`` gets when a callback's ``timeout`` elapses."""
