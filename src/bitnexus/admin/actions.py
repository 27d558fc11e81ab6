"""What an operator can do to a running process: kill it, send it an exit
signal, restart a supervisor's child. Each returns what happened, after the
supervisor has had its chance to react, so the tree shows the result at once.

Example::

    result = await kill(node, pid)
    result["replacement"]          # "<0.57.0>": the supervisor restarted it
    await restart_child(node, sup, child_id="cache")
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from bitnexus.actors import KILL, Node, Pid
from bitnexus.exceptions import BitnexusError, Refused
from bitnexus.supervision import DynamicSupervisor, Supervisor, SupervisorError

__all__ = ["ActionRefused", "exit_process", "kill", "parse_reason", "restart_child"]

_SETTLE_TIMEOUT = 2.0
# A trapping target gets the signal as a message and may well ignore it.
_TRAPPING_TIMEOUT = 0.5
_MAX_REASON = 200
_NO_ID = object()


class ActionRefused(Refused):
    """An admin action that cannot be done as asked (404, 409 or 422).

    Attributes:
        errors: the ``{"errors": ...}`` body for the client.
    """

    def __init__(self, status: int, detail: str, **fields: Any) -> None:
        self.status = status
        self.errors = {"detail": detail, **fields}
        super().__init__(detail)


def parse_reason(value: Any) -> Any:
    """An exit reason from JSON: a string, or ``["shutdown", detail]``.

    Raises:
        ActionRefused: anything else (422).

    Example::

        parse_reason("shutdown")                 # "shutdown"
        parse_reason(["shutdown", "maintenance"])  # ("shutdown", "maintenance")
    """
    if isinstance(value, str) and 0 < len(value) <= _MAX_REASON:
        return value
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] == "shutdown"
        and isinstance(value[1], str)
        and len(value[1]) <= _MAX_REASON
    ):
        return ("shutdown", value[1])
    raise ActionRefused(
        422,
        'reason must be a non-empty string (at most 200 characters) or ["shutdown", "detail"]',
        field="reason",
    )


async def kill(node: Node, pid: Pid[Any]) -> dict[str, Any]:
    """Send ``kill`` (untrappable; the process exits ``killed``)."""
    return await exit_process(node, pid, KILL)


async def exit_process(node: Node, pid: Pid[Any], reason: Any) -> dict[str, Any]:
    """Send an exit signal with ``reason`` from outside any process (Erlang ``exit/2``).

    A process that traps exits gets it as a message and decides for itself
    (a supervisor ignores exits from strangers, as in OTP); ``"kill"`` always
    ends the target.

    Returns:
        ``{"pid", "reason", "exited", "exit_reason", "replacement"}``:
        whether it exited within a moment, and the pid its supervisor
        restarted it as (None when there is none, yet).
    """
    proc = pid._proc
    if proc is None:
        raise ActionRefused(404, f"process {pid} is not alive", pid=str(pid))
    parent = proc.parent
    identity = await _identity(proc)
    done = proc.wait_exit()
    timeout = _TRAPPING_TIMEOUT if proc.trap_exit and reason != KILL else _SETTLE_TIMEOUT
    node.exit(pid, reason)
    try:
        exit_reason = await asyncio.wait_for(asyncio.shield(done), timeout)
    except TimeoutError:
        done.cancel()
        return _result(pid, reason, exited=False)
    replacement = await _replacement(node, parent, identity)
    return _result(pid, reason, exited=True, exit_reason=exit_reason, replacement=replacement)


@dataclass(frozen=True)
class _Identity:
    """What survives a restart: the registered name, the child id, the class."""

    name: Any
    child_id: Any
    actor_class: type
    mark: int


async def _identity(proc: Any) -> _Identity:
    child_id = _NO_ID
    parent = proc.parent._proc if proc.parent is not None else None
    if parent is not None and isinstance(parent.actor, Supervisor) and not proc.names:
        try:
            for cid, cpid, _type, _desc in await Supervisor.which_children(proc.parent):
                if cpid == proc.pid:
                    child_id = cid
        except BitnexusError:
            pass  # the supervisor is gone or busy: fall back to the class
    # Whatever is spawned after this point is new; serials only grow.
    mark = max((p.serial for p in proc.node.pids()), default=0)
    name = proc.names[0] if proc.names else None
    return _Identity(name, child_id, type(proc.actor), mark)


def _result(pid: Pid[Any], reason: Any, *, exited: bool, **more: Any) -> dict[str, Any]:
    exit_reason = more.get("exit_reason")
    replacement = more.get("replacement")
    return {
        "pid": str(pid),
        "reason": reason if isinstance(reason, str) else list(reason),
        "exited": exited,
        "exit_reason": _reason_text(exit_reason) if exited else None,
        "replacement": str(replacement) if replacement is not None else None,
    }


def _reason_text(reason: Any) -> str:
    return (reason if isinstance(reason, str) else repr(reason))[:_MAX_REASON]


async def _replacement(node: Node, parent: Pid[Any] | None, identity: _Identity) -> Pid[Any] | None:
    """The child ``parent`` started in place of the process that just exited."""
    if parent is None or parent._proc is None:
        return None
    sup = parent._proc
    if not isinstance(sup.actor, Supervisor | DynamicSupervisor):
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SETTLE_TIMEOUT
    # The supervisor has reacted once its mailbox is empty and it is idle
    # again (the Exit message arrives on the next loop turn).
    await asyncio.sleep(0)
    while loop.time() < deadline:
        if parent._proc is None:
            return None
        if sup.mailbox_len() == 0 and sup.status == "waiting":
            break
        await asyncio.sleep(0.005)
    if identity.name is not None:
        return node.whereis(identity.name)
    if identity.child_id is not _NO_ID:
        try:
            children = await Supervisor.which_children(parent)
        except BitnexusError:
            return None
        for cid, cpid, _type, _desc in children:
            if cid == identity.child_id and isinstance(cpid, Pid):
                return cpid
        return None
    found = None
    for candidate in node.pids():
        p = candidate._proc
        if (
            candidate.serial > identity.mark
            and p is not None
            and p.parent == parent
            and type(p.actor) is identity.actor_class
        ):
            found = candidate  # a dynamic supervisor restarts one: the newest
    return found


async def restart_child(
    node: Node,
    sup: Pid[Any],
    *,
    child_id: Any = None,
    child_pid: Pid[Any] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Start a static supervisor's child again from its spec.

    The child is found by ``child_id`` (compared as given and as text) or by
    its current pid. A terminated child starts at once (OTP
    ``restart_child``). A running child is refused (409) unless ``force``,
    which stops it the way the supervisor would (``terminate_child``) and
    starts it again. Dynamic supervisors have no child ids and no
    ``restart_child`` in OTP: kill the child and its restart policy applies.

    Returns:
        ``{"supervisor", "id", "pid"}`` with the new pid (None if its init
        said Ignore).
    """
    proc = sup._proc
    if proc is None:
        raise ActionRefused(404, f"process {sup} is not alive", pid=str(sup))
    if isinstance(proc.actor, DynamicSupervisor):
        raise ActionRefused(
            422,
            "a DynamicSupervisor has no restart_child: kill the child and its "
            "restart policy decides",
        )
    if not isinstance(proc.actor, Supervisor):
        raise ActionRefused(422, f"process {sup} is not a supervisor")
    children = await Supervisor.which_children(sup)
    match = _find(children, child_id, child_pid)
    if match is None:
        raise ActionRefused(404, "no such child", child=_text(child_id or child_pid))
    real_id, current = match[0], match[1]
    try:
        if current == "restarting":
            raise ActionRefused(409, "the supervisor is already restarting this child")
        if isinstance(current, Pid):
            if not force:
                raise ActionRefused(
                    409, "the child is running; send force=true to stop and start it"
                )
            await Supervisor.terminate_child(sup, real_id)
        pid = await Supervisor.restart_child(sup, real_id)
    except SupervisorError as exc:
        raise ActionRefused(409, f"the supervisor refused: {exc.reason!r}"[:300]) from exc
    return {"supervisor": str(sup), "id": _text(real_id), "pid": str(pid) if pid else None}


def _find(
    children: list[tuple[Hashable, Any, str, str]], child_id: Any, child_pid: Pid[Any] | None
) -> tuple[Hashable, Any, str, str] | None:
    for child in children:
        if child_pid is not None and child[1] == child_pid:
            return child
        if child_id is not None and (child[0] == child_id or _text(child[0]) == child_id):
            return child
    return None


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int) else str(value)
