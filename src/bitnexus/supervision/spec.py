"""Child specifications: how a supervisor starts, restarts and stops a child.

Example::

    ChildSpec.for_actor(Counter, 0, id="counter", restart=Restart.TRANSIENT, shutdown=2.0)
    ChildSpec.for_actor(Supervisor, [child_a, child_b], id="sub", strategy=Strategy.ONE_FOR_ALL)
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from bitnexus.actors import Actor, Node, Pid
from bitnexus.exceptions import Misuse

__all__ = [
    "BRUTAL_KILL",
    "INFINITY",
    "ChildSpec",
    "ChildType",
    "InvalidChildSpec",
    "Restart",
    "Shutdown",
    "StartFn",
    "Strategy",
]


class Restart(StrEnum):
    """When a child that exited is started again (RST-1..3)."""

    PERMANENT = "permanent"
    """Always."""
    TRANSIENT = "transient"
    """Only after an abnormal exit (not normal/shutdown/("shutdown", _))."""
    TEMPORARY = "temporary"
    """Never; the spec is dropped when the child exits."""


class Strategy(StrEnum):
    """What else restarts when one child restarts (SUP-1..3)."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class ChildType(StrEnum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"


BRUTAL_KILL = "brutal_kill"
"""Shutdown by ``kill``: no ``terminate``."""
INFINITY = "infinity"
"""Shutdown by ``shutdown`` and wait as long as it takes (for supervisors)."""

Shutdown = float | str
StartFn = Callable[..., Awaitable["Pid[Any] | None"]]
"""``async start(node, parent_pid, *extra_arguments) -> pid``; the pid must be
linked to ``parent_pid`` (use ``node.start_link``)."""


class InvalidChildSpec(Misuse):
    """A child spec is malformed: missing id, start not callable, bad shutdown."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One child of a supervisor (CS-1..4).

    Attributes:
        id: unique inside a static supervisor.
        start: ``async (node, parent, *extra) -> Pid``; links the child to ``parent``.
        restart: permanent (default), transient or temporary.
        shutdown: seconds to wait after ``shutdown`` before ``kill``, or
            ``BRUTAL_KILL``, or ``INFINITY``. Default 5 s for workers and
            infinity for supervisors.
        type: worker or supervisor.
        description: what the admin tree shows as the initial call.
    """

    id: Hashable
    start: StartFn
    restart: Restart = Restart.PERMANENT
    shutdown: Shutdown | None = None
    type: ChildType = ChildType.WORKER
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.id is None:
            raise InvalidChildSpec("child spec is missing its id")
        if not callable(self.start):
            raise InvalidChildSpec(
                f"child spec {self.id!r}: start must be callable, got {self.start!r}"
            )
        try:
            if self.restart.__class__ is not Restart:
                object.__setattr__(self, "restart", Restart(self.restart))
            if self.type.__class__ is not ChildType:
                object.__setattr__(self, "type", ChildType(self.type))
        except ValueError as exc:
            raise InvalidChildSpec(f"child spec {self.id!r}: {exc}") from None
        shutdown = self.shutdown
        if shutdown is None:
            shutdown = INFINITY if self.type is ChildType.SUPERVISOR else 5.0
            object.__setattr__(self, "shutdown", shutdown)
        if isinstance(shutdown, str):
            if shutdown not in (BRUTAL_KILL, INFINITY):
                raise InvalidChildSpec(f"child spec {self.id!r}: invalid shutdown {shutdown!r}")
        elif (
            not isinstance(shutdown, int | float)
            or isinstance(shutdown, bool)
            or shutdown < 0
            or math.isnan(shutdown)
        ):
            raise InvalidChildSpec(f"child spec {self.id!r}: invalid shutdown {shutdown!r}")

    @property
    def shutdown_timeout(self) -> float | None:
        """Seconds to wait for a clean exit (None = forever, 0 = brutal kill)."""
        if self.shutdown == INFINITY:
            return None
        if self.shutdown == BRUTAL_KILL:
            return 0.0
        return float(self.shutdown)  # type: ignore[arg-type]

    def without_start(self) -> ChildSpec:
        """A copy that can no longer start anything: what a supervisor keeps
        for a running temporary child, which is never restarted, so the
        start function and the arguments it captured can be freed."""
        # Validated already: skip replace()'s __init__ and checks, once per join.
        clone = object.__new__(ChildSpec)
        for name in _FIELDS:
            object.__setattr__(clone, name, getattr(self, name))
        object.__setattr__(clone, "start", _never_restarted)
        return clone

    def with_overrides(self, **changes: Any) -> ChildSpec:
        """A copy with some fields changed (Elixir's ``Supervisor.child_spec/2``)."""
        return replace(self, **changes)

    @classmethod
    def for_actor(
        cls,
        actor: type[Actor],
        *args: Any,
        id: Hashable | None = None,
        restart: Restart | str = Restart.PERMANENT,
        shutdown: Shutdown | None = None,
        type: ChildType | str | None = None,
        name: Hashable | None = None,
        **kwargs: Any,
    ) -> ChildSpec:
        """A spec that starts ``actor(*args, **kwargs)`` linked to its supervisor.

        ``type`` defaults to supervisor when the actor's ``kind`` is
        "supervisor"; ``id`` defaults to the registered name or the class.
        """
        known = _ACTOR_FACTS.get(actor)
        if known is None:
            if not (isinstance(actor, builtins.type) and issubclass(actor, Actor)):
                raise InvalidChildSpec(f"for_actor needs an Actor subclass, got {actor!r}")
            # One description string per class, shared by all its children.
            known = _ACTOR_FACTS[actor] = (
                ChildType.SUPERVISOR if actor.kind == "supervisor" else ChildType.WORKER,
                f"{actor.__module__}.{actor.__qualname__}",
            )
        child_type = type or known[0]

        async def start(node: Node, parent: Pid[Any], *extra: Any) -> Pid[Any]:
            return await node.start_link(
                actor, *extra, *args, link_to=parent, parent=parent, name=name, **kwargs
            )

        return cls(
            id=id if id is not None else (name if name is not None else actor.__qualname__),
            start=start,
            restart=restart,
            shutdown=shutdown,
            type=child_type,
            description=known[1],
        )


_FIELDS = tuple(f.name for f in fields(ChildSpec))
_ACTOR_FACTS: dict[type[Actor], tuple[ChildType, str]] = {}


async def _never_restarted(node: Node, parent: Pid[Any], *extra: Any) -> Pid[Any]:
    raise Misuse("a temporary child is never restarted; its start function was released")
