"""The static :class:`Supervisor`: starts children in order, restarts them by
strategy, gives up past ``max_restarts`` in ``max_seconds`` and lets its own
parent decide (escalation), stops them in reverse order.

Example::

    children = [
        ChildSpec.for_actor(Cache, id="cache"),
        ChildSpec.for_actor(Worker, id="worker", restart=Restart.TRANSIENT),
    ]
    sup = await node.start(Supervisor, children, strategy=Strategy.REST_FOR_ONE)
    print(await Supervisor.which_children(sup))
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

from bitnexus.actors import SHUTDOWN, Actor, Exit, From, Pid, Reply, Stop, is_normal_exit
from bitnexus.exceptions import Refused, StartError
from bitnexus.supervision._children import (
    RESTARTING,
    Child,
    Intensity,
    no_history,
    shutdown_child,
    start_child,
)
from bitnexus.supervision.spec import ChildSpec, ChildType, InvalidChildSpec, Restart, Strategy

__all__ = ["ChildInfo", "Supervisor", "SupervisorError"]

ChildInfo = tuple[Hashable, "Pid[Any] | str | None", str, str]
"""``(id, pid | "restarting" | None, type, description)`` as in ``which_children``."""


class SupervisorError(Refused):
    """A supervisor refused an administrative request.

    ``reason`` is one of ``"not_found"``, ``"running"``, ``"restarting"``,
    ``("already_started", pid)``, ``"already_present"``, ``"max_children"``.
    """

    def __init__(self, reason: Any) -> None:
        self.reason = reason
        super().__init__(f"supervisor refused: {reason!r}")


class Supervisor(Actor):
    """An OTP supervisor with one_for_one, one_for_all or rest_for_one.

    Args:
        children: child specs, started in this order.
        strategy: what restarts together.
        max_restarts: restarts allowed within ``max_seconds``; one more and
            the supervisor terminates its children and exits ``shutdown``.
    """

    kind: ClassVar[str] = "supervisor"

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
    ) -> None:
        self.strategy = Strategy(strategy)
        if max_restarts < 0 or max_seconds <= 0:
            raise InvalidChildSpec("max_restarts must be >= 0 and max_seconds > 0")
        self.intensity = Intensity(max_restarts, max_seconds)
        self._specs = list(children)
        seen: set[Hashable] = set()
        for spec in self._specs:
            # SUP-10, checked before any child runs so a refusal leaves no orphans.
            if spec.id in seen:
                raise InvalidChildSpec(f"duplicate child id {spec.id!r}")
            seen.add(spec.id)
        self.children: list[Child] = []
        self._by_id: dict[Hashable, Child] = {}
        self._by_pid: dict[Pid[Any], Child] = {}

    async def init(self) -> Any:
        self.trap_exit = True
        for spec in self._specs:
            child = Child(spec)
            try:
                pid = await start_child(self, child)
            except StartError as exc:
                await self._terminate_all()
                return Stop((SHUTDOWN, ("failed_to_start_child", spec.id, exc.reason)))
            self._add(child, pid)
        return None

    def _add(self, child: Child, pid: Pid[Any] | None) -> None:
        if pid is None and child.spec.restart is Restart.TEMPORARY:
            return  # SUP-6: an ignored temporary child leaves no spec
        self.children.append(child)
        self._by_id[child.spec.id] = child
        child.pid = pid
        if pid is not None:
            self._by_pid[pid] = child

    def _remove(self, child: Child) -> None:
        self.children.remove(child)
        del self._by_id[child.spec.id]

    # -- exits and restarts --------------------------------------------------------------
    async def handle_info(self, message: Any) -> Any:
        if message.__class__ is Exit:
            child = self._by_pid.pop(message.pid, None)
            if child is None:
                return None
            child.pid = None
            child.record_exit(message.pid, message.reason)
            return await self._child_exited(child, message.reason)
        if message.__class__ is tuple and message[0] == "$retry":
            child = self._by_id.get(message[1])
            if child is not None and child.pid == RESTARTING:
                return await self._restart(child)
            return None
        return await super().handle_info(message)

    async def _child_exited(self, child: Child, reason: Any) -> Any:
        restart = child.spec.restart
        if restart is Restart.TEMPORARY:
            self._remove(child)
            return None
        if restart is Restart.TRANSIENT and is_normal_exit(reason):
            return None
        return await self._restart(child)

    async def _restart(self, child: Child) -> Any:
        if not self.intensity.add():
            await self._terminate_all()
            return Stop(SHUTDOWN)
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        else:
            index = self.children.index(child)
            start = 0 if self.strategy is Strategy.ONE_FOR_ALL else index
            group = self.children[start:]
            for other in reversed(group):
                if other is not child and other.running:
                    await self._shutdown(other)
            for other in group:
                if other is not child and other.spec.restart is Restart.TEMPORARY:
                    self._remove(other)  # SUP-4: temporary siblings never come back
            group = [c for c in group if c in self.children]
        for member in group:
            member.restarts += 1
            self.node.restarts_total += 1
            try:
                pid = await start_child(self, member)
            except StartError:
                # INT-4: retry later; every attempt counts toward the intensity.
                member.pid = RESTARTING
                self.pid.send(("$retry", member.spec.id))
                return None
            member.pid = pid
            if pid is not None:
                self._by_pid[pid] = member
        return None

    async def _shutdown(self, child: Child) -> Any:
        pid = child.pid
        if not isinstance(pid, Pid):
            child.pid = None
            return None
        self._by_pid.pop(pid, None)
        child.pid = None
        return await shutdown_child(self, pid, child.spec.shutdown_timeout)

    async def _terminate_all(self) -> None:
        for child in reversed(self.children):
            await self._shutdown(child)

    async def terminate(self, reason: Any) -> None:
        await self._terminate_all()

    # -- administration ----------------------------------------------------------
    async def handle_call(self, request: Any, from_: From) -> Any:
        op = request[0]
        if op == "which_children":
            return Reply([_child_info(c) for c in self.children])
        if op == "count_children":
            return Reply(_count(self.children))
        if op == "start_child":
            return Reply(await self._start_new(request[1]))
        child = self._by_id.get(request[1])
        if child is None:
            return Reply(("error", "not_found"))
        if op == "terminate_child":
            await self._shutdown(child)
            if child.spec.restart is Restart.TEMPORARY:
                self._remove(child)
            return Reply(("ok", None))
        if op == "restart_child":
            if child.running:
                return Reply(("error", "running"))
            if child.pid == RESTARTING:
                return Reply(("error", "restarting"))
            try:
                pid = await start_child(self, child)
            except StartError as exc:
                return Reply(("error", exc.reason))
            child.pid = pid
            if pid is not None:
                self._by_pid[pid] = child
            return Reply(("ok", pid))
        if op == "delete_child":
            if child.running:
                return Reply(("error", "running"))
            if child.pid == RESTARTING:
                return Reply(("error", "restarting"))
            self._remove(child)
            return Reply(("ok", None))
        return Reply(("error", ("unknown_request", op)))

    async def _start_new(self, spec: ChildSpec) -> Any:
        existing = self._by_id.get(spec.id)
        if existing is not None:
            if existing.running:
                return ("error", ("already_started", existing.pid))
            return ("error", "already_present")
        child = Child(spec)
        try:
            pid = await start_child(self, child)
        except StartError as exc:
            return ("error", exc.reason)
        self._add(child, pid)
        return ("ok", pid)

    def child_history(self, pid: Pid[Any]) -> dict[str, Any]:
        """Recent exits of the child running as ``pid`` (for the admin detail view).

        Read synchronously from outside the process, so it never waits.

        Example::

            sup_actor.child_history(pid)["last_crash"]["reason"]   # "RuntimeError('boom')"
        """
        child = self._by_pid.get(pid)
        return child.history_view() if child is not None else no_history()

    def summary(self) -> Any:
        return {
            "strategy": str(self.strategy),
            "children": len(self.children),
            "max_restarts": self.intensity.max_restarts,
            "max_seconds": self.intensity.max_seconds,
        }

    # -- client API ------------------------------------------------------------------
    @staticmethod
    async def which_children(sup: Pid[Any]) -> list[ChildInfo]:
        """``[(id, pid | "restarting" | None, type, description)]`` in start order (SUP-7)."""
        return await sup.call(("which_children",))  # type: ignore[no-any-return]

    @staticmethod
    async def count_children(sup: Pid[Any]) -> dict[str, int]:
        """``{"specs", "active", "supervisors", "workers"}`` (SUP-7)."""
        return await sup.call(("count_children",))  # type: ignore[no-any-return]

    @staticmethod
    async def start_child(sup: Pid[Any], spec: ChildSpec) -> Pid[Any] | None:
        """Add and start a child at runtime (SUP-8). Raises SupervisorError."""
        return _ok(await sup.call(("start_child", spec), timeout=None))  # type: ignore[no-any-return]

    @staticmethod
    async def terminate_child(sup: Pid[Any], child_id: Hashable) -> None:
        """Stop a child but keep its spec (a temporary child's spec goes)."""
        _ok(await sup.call(("terminate_child", child_id), timeout=None))

    @staticmethod
    async def restart_child(sup: Pid[Any], child_id: Hashable) -> Pid[Any] | None:
        """Start a stopped child again from its spec."""
        return _ok(await sup.call(("restart_child", child_id), timeout=None))  # type: ignore[no-any-return]

    @staticmethod
    async def delete_child(sup: Pid[Any], child_id: Hashable) -> None:
        """Forget a stopped child's spec; a running child gives ``"running"``."""
        _ok(await sup.call(("delete_child", child_id)))


def _ok(result: tuple[str, Any]) -> Any:
    status, value = result
    if status != "ok":
        raise SupervisorError(value)
    return value


def _child_info(child: Child) -> ChildInfo:
    return (child.spec.id, child.pid, str(child.spec.type), child.spec.description)


def _count(children: Sequence[Child]) -> dict[str, int]:
    return {
        "specs": len(children),
        "active": sum(1 for c in children if c.running),
        "supervisors": sum(1 for c in children if c.spec.type is ChildType.SUPERVISOR),
        "workers": sum(1 for c in children if c.spec.type is ChildType.WORKER),
    }


