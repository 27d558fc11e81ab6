"""The :class:`DynamicSupervisor`: starts children on demand, one_for_one.

Children are addressed by pid (DYN-3); ``max_children`` caps them, counting
those waiting to be restarted (DYN-4). On shutdown every child is signalled at
once and awaited in parallel (SHD-1). BitNexus runs one per kind of per-entity
actor: connections, channels.

Example::

    sup = await node.start(DynamicSupervisor, max_children=10_000)
    pid = await DynamicSupervisor.start_child(sup, ChildSpec.for_actor(Room, "lobby",
                                              restart=Restart.TEMPORARY))
    await DynamicSupervisor.terminate_child(sup, pid)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from bitnexus.actors import (
    SHUTDOWN,
    Actor,
    Exit,
    From,
    Pid,
    Reply,
    StartIgnored,
    Stop,
    is_normal_exit,
    starts_in_spawn,
)
from bitnexus.exceptions import StartError
from bitnexus.supervision._children import (
    RESTARTING,
    Child,
    Intensity,
    no_history,
    shutdown_child,
    start_child,
)
from bitnexus.supervision.spec import ChildSpec, ChildType, InvalidChildSpec, Restart
from bitnexus.supervision.supervisor import ChildInfo, SupervisorError

__all__ = ["DynamicSupervisor"]


class DynamicSupervisor(Actor):
    """A supervisor whose children are added at runtime.

    Args:
        max_children: None for no limit.
        max_restarts / max_seconds: restart intensity (DYN-2 defaults 3 in 5 s).
        extra_arguments: prepended to every child's start arguments (DYN-5).
    """

    kind: ClassVar[str] = "supervisor"

    def __init__(
        self,
        *,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        extra_arguments: Sequence[Any] = (),
    ) -> None:
        if max_children is not None and max_children < 0:
            raise InvalidChildSpec(f"invalid max_children {max_children!r}")
        if max_restarts < 0 or max_seconds <= 0:
            raise InvalidChildSpec("max_restarts must be >= 0 and max_seconds > 0")
        self.max_children = max_children
        self.intensity = Intensity(max_restarts, max_seconds)
        self.extra = tuple(extra_arguments)
        self.children: dict[Pid[Any], Child] = {}
        # Children waiting for a restart retry, under the pid they last had, so
        # terminate_child(sup, old_pid) can still remove them (DYN-41).
        self.restarting: dict[Pid[Any], Child] = {}

    async def init(self) -> Any:
        self.trap_exit = True
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        op = request[0]
        if op == "start_child":
            return Reply(await self._start(request[1]))
        if op == "start_temporary":
            return Reply(await self._start_temporary(request[1], request[2], request[3]))
        if op == "terminate_child":
            child = self.children.pop(request[1], None)
            if child is None:
                if self.restarting.pop(request[1], None) is not None:
                    return Reply(("ok", None))
                return Reply(("error", "not_found"))
            await shutdown_child(self, request[1], child.spec.shutdown_timeout)
            return Reply(("ok", None))
        if op == "which_children":
            infos: list[ChildInfo] = [
                (None, pid, str(c.spec.type), c.spec.description)
                for pid, c in self.children.items()
            ]
            infos += [
                (None, RESTARTING, str(c.spec.type), c.spec.description)
                for c in self.restarting.values()
            ]
            return Reply(infos)
        if op == "count_children":
            every = [*self.children.values(), *self.restarting.values()]
            return Reply(
                {
                    "specs": len(every),
                    "active": len(self.children),
                    "supervisors": sum(1 for c in every if c.spec.type is ChildType.SUPERVISOR),
                    "workers": sum(1 for c in every if c.spec.type is ChildType.WORKER),
                }
            )
        return Reply(("error", ("unknown_request", op)))

    def _full(self) -> bool:
        # Children waiting for a restart count too (DYN-4). Starts never
        # overlap: requests run one at a time in this process, and the
        # callers' in-place starts never await (see _starts_in_place).
        limit = self.max_children
        return limit is not None and len(self.children) + len(self.restarting) >= limit

    async def _start(self, spec: ChildSpec) -> tuple[str, Any]:
        if self._full():
            return ("error", "max_children")
        child = Child(spec)
        try:
            pid = await start_child(self, child, self.extra)
        except StartError as exc:
            return ("error", exc.reason)
        if pid is not None:
            if child.spec.restart is Restart.TEMPORARY:
                child.spec = child.spec.without_start()  # never restarted
            self.children[pid] = child
            child.pid = pid
        return ("ok", pid)

    async def _start_temporary(
        self, actor: type[Actor], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[str, Any]:
        if starts_in_spawn(actor):
            return self._start_temporary_now(actor, args, kwargs)
        if self._full():
            return ("error", "max_children")
        try:
            pid = await self.node.start_link(
                actor, *self.extra, *args, link_to=self.pid, parent=self.pid, **kwargs
            )
        except Exception as exc:
            return _start_failure(exc)
        return self._add_temporary(actor, pid)

    def _start_temporary_now(
        self, actor: type[Actor], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[str, Any]:
        """The whole start of an actor whose init runs inside spawn: no await,
        so nothing can come between spawning the child and recording it."""
        if self._full():
            return ("error", "max_children")
        try:
            pid = self.node.start_now(
                actor, *self.extra, *args, link=self.pid, parent=self.pid, **kwargs
            )
        except Exception as exc:
            return _start_failure(exc)
        return self._add_temporary(actor, pid)

    def _add_temporary(self, actor: type[Actor], pid: Pid[Any]) -> tuple[str, Any]:
        child = Child(_temporary_spec(actor))
        child.pid = pid
        self.children[pid] = child
        return ("ok", pid)

    async def handle_info(self, message: Any) -> Any:
        if message.__class__ is Exit:
            child = self.children.pop(message.pid, None)
            if child is None:
                return None
            restart = child.spec.restart
            if restart is Restart.TEMPORARY or (
                restart is Restart.TRANSIENT and is_normal_exit(message.reason)
            ):
                return None
            child.record_exit(message.pid, message.reason)
            return await self._restart(child, message.pid)
        if message.__class__ is tuple and message[0] == "$retry":
            child = self.restarting.pop(message[1], None)
            if child is not None:
                return await self._restart(child, message[1])
            return None
        return await super().handle_info(message)

    async def _restart(self, child: Child, old_pid: Pid[Any]) -> Any:
        if not self.intensity.add():
            await self._terminate_all()
            return Stop(SHUTDOWN)
        child.restarts += 1
        self.node.restarts_total += 1
        try:
            pid = await start_child(self, child, self.extra)
        except StartError:
            child.pid = RESTARTING
            self.restarting[old_pid] = child
            self.pid.send(("$retry", old_pid))
            return None
        if pid is not None:  # DYN-22: ignore on restart drops the child
            child.pid = pid
            self.children[pid] = child
        return None

    async def _terminate_all(self) -> None:
        children = list(self.children.items())
        self.children.clear()
        self.restarting.clear()
        if children:
            await asyncio.gather(
                *(shutdown_child(self, pid, c.spec.shutdown_timeout) for pid, c in children)
            )

    async def terminate(self, reason: Any) -> None:
        await self._terminate_all()

    def child_history(self, pid: Pid[Any]) -> dict[str, Any]:
        """Recent exits of the child running as ``pid`` (for the admin detail view).

        Example::

            sup_actor.child_history(pid)["restart_count"]
        """
        child = self.children.get(pid)
        return child.history_view() if child is not None else no_history()

    def summary(self) -> Any:
        return {
            "strategy": "one_for_one",
            "children": len(self.children),
            "max_children": self.max_children,
        }

    # -- client API -------------------------------------------------------------
    @staticmethod
    async def start_child(sup: Pid[Any], spec: ChildSpec) -> Pid[Any] | None:
        """Start a child from ``spec``; None if its init said Ignore.

        Raises:
            SupervisorError: ``max_children`` reached, or the start failed
                (``reason`` carries the start error, DYN-6).
        """
        status, value = await sup.call(("start_child", spec), timeout=None)
        if status != "ok":
            raise SupervisorError(value)
        return value  # type: ignore[no-any-return]

    @staticmethod
    async def start_temporary(
        sup: Pid[Any], actor: type[Actor], *args: Any, **kwargs: Any
    ) -> Pid[Any] | None:
        """Start ``actor(*args, **kwargs)`` as a temporary child: the same as
        ``start_child(sup, ChildSpec.for_actor(actor, *args, restart="temporary",
        **kwargs))`` with the default shutdown, but no spec is built per child
        (connections and channels start this way, thousands a second). When
        the supervisor is idle and ``actor.init`` is a plain def, the caller
        runs the start itself, with no message to the supervisor.

        Example::

            pid = await DynamicSupervisor.start_temporary(rooms, Room, "lobby")

        Raises:
            SupervisorError: as :meth:`start_child`.
        """
        proc = sup._proc
        if proc is not None and _starts_in_place(proc, actor):
            status, value = proc.actor._start_temporary_now(actor, args, kwargs)
        else:
            request = ("start_temporary", actor, args, kwargs)
            status, value = await sup.call(request, timeout=None)
        if status != "ok":
            raise SupervisorError(value)
        return value  # type: ignore[no-any-return]

    @staticmethod
    async def terminate_child(sup: Pid[Any], pid: Pid[Any]) -> None:
        """Stop the child ``pid``. Raises SupervisorError("not_found")."""
        status, value = await sup.call(("terminate_child", pid), timeout=None)
        if status != "ok":
            raise SupervisorError(value)

    @staticmethod
    async def which_children(sup: Pid[Any]) -> list[ChildInfo]:
        """``[(None, pid | "restarting", type, description)]``."""
        return await sup.call(("which_children",))  # type: ignore[no-any-return]

    @staticmethod
    async def count_children(sup: Pid[Any]) -> dict[str, int]:
        """``{"specs", "active", "supervisors", "workers"}``."""
        return await sup.call(("count_children",))  # type: ignore[no-any-return]


def _starts_in_place(proc: Any, actor: type[Actor]) -> bool:
    """Whether the caller may run a start request itself instead of sending it.

    Only for an idle DynamicSupervisor (nothing queued, nothing in progress),
    which would run the request as soon as it got it, and only for an actor
    whose ``init`` is a plain def: then the whole start runs without a single
    await, so nothing (a child's exit, another request) can come between
    spawning the child and recording it. Same outcome, minus a mailbox round
    trip and two task switches."""
    sup = proc.actor
    return (
        proc.idle
        and isinstance(sup, DynamicSupervisor)
        and type(sup).handle_call is DynamicSupervisor.handle_call
        and starts_in_spawn(actor)
    )


def _start_failure(exc: Exception) -> tuple[str, Any]:
    """A start request's answer when starting raised: ignored, or why not (DYN-6)."""
    if isinstance(exc, StartIgnored):
        return ("ok", None)
    if isinstance(exc, StartError):
        return ("error", exc.reason)
    return ("error", exc)  # a raising constructor is a start error


_TEMPORARY_SPECS: dict[type[Actor], ChildSpec] = {}


def _temporary_spec(actor: type[Actor]) -> ChildSpec:
    """The spec a temporary child started by class is recorded under: one
    per class, never used to start anything (temporary children never restart)."""
    spec = _TEMPORARY_SPECS.get(actor)
    if spec is None:
        spec = ChildSpec.for_actor(actor, restart=Restart.TEMPORARY).without_start()
        _TEMPORARY_SPECS[actor] = spec
    return spec
