"""Immutable snapshots of processes, for operators and tools (observer-style).

Example::

    for info in node.processes():
        print(info.pid, info.name, info.kind, info.mailbox_len, info.restarts)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bitnexus.actors.pid import Pid

__all__ = ["ProcessInfo"]


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What one process looked like at the moment of the snapshot."""

    pid: Pid[Any]
    name: Any
    """The first registered unique name, or None."""
    kind: str
    """worker, supervisor, channel, connection, service, thread, ..."""
    actor: str
    """The actor's class, ``module.QualName``."""
    parent: Pid[Any] | None
    links: tuple[Pid[Any], ...]
    monitors: tuple[Pid[Any], ...]
    """Processes this one monitors."""
    monitored_by: tuple[Pid[Any], ...]
    mailbox_len: int
    handled: int
    """Messages handled so far (a 'reductions' stand-in)."""
    restarts: int
    """How many times the child spec behind this process was restarted."""
    started_at: float
    status: str
    """starting, running, waiting, exiting or dead."""
    trap_exit: bool
    label: Any
    summary: Any
    """The actor's own short state description (``Actor.summary()``)."""
