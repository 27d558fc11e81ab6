"""The :class:`Node`: one process table, registry and set of counters.

There is no module-level state: every test, server or tool builds its own
node, so nodes never interfere (STYLE habit 13).

Example::

    node = Node()
    pid = await node.start(Counter, 0, name="counter")
    assert node.whereis("counter") == pid
    ref = node.monitor(None, pid)      # from outside any process
    await node.stop(pid)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Hashable, Iterator
from typing import Any, TypeVar

from bitnexus.actors.actor import Actor, Ignore
from bitnexus.actors.info import ProcessInfo
from bitnexus.actors.pid import Pid, Ref
from bitnexus.actors.process import PARENT_EXIT, Process, starts_in_spawn
from bitnexus.actors.registry import Registry
from bitnexus.actors.signals import NOPROC, NORMAL, SHUTDOWN, Down
from bitnexus.actors.threaded import ThreadActor, bridge_for
from bitnexus.exceptions import Misuse, NoProcess, StartError

__all__ = ["Node"]

_log = logging.getLogger("bitnexus.actors")
A = TypeVar("A", bound=Actor)

_node_ids = itertools.count(0)
_NO_OUTCOME: Any = object()


class Node:
    """A BitNexus node: spawns processes and owns their table and registry.

    Args:
        loop: the event loop processes run on; by default the running loop at
            the first spawn.
        node_id: the first number printed in pids (``<node_id.serial.0>``).
    """

    def __init__(
        self, *, loop: asyncio.AbstractEventLoop | None = None, node_id: int | None = None
    ) -> None:
        self._loop = loop
        self.node_id = next(_node_ids) if node_id is None else node_id
        self._serials = itertools.count(1)
        self._refs = itertools.count(1)
        self._procs: dict[int, Process] = {}
        self.registry = Registry()
        # proc -> (future for start(), the pid start() linked it to)
        self._init_waiters: dict[Process, tuple[asyncio.Future[Any], Pid[Any] | None]] = {}
        # A start() whose actor has a plain-def init learns the outcome inside
        # spawn: [starter, outcome] per process being started.
        self._start_request: list[Any] | None = None
        self._sync_starts: dict[Process, list[Any]] = {}
        self._signals: deque[tuple[Process, Process | None, Any]] = deque()
        self._delivering = False
        self.spawned_total = 0
        self.crashed_total = 0
        self.handled_by_dead = 0
        """Messages handled by processes that have exited (keeps totals monotonic)."""
        self.restarts_total = 0
        self._pending_restarts: dict[Pid[Any], int] = {}
        """Child restarts done by every supervisor on this node."""
        self.exit_listeners: list[Any] = []
        """Callables ``fn(pid, reason)`` told of every exit (metrics, admin)."""
        self.system_pid: Pid[Any] = Pid(self.node_id, 0)
        """Stands for 'outside any process' as the sender of exit signals."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this node's processes run on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- spawning ------------------------------------------------------------
    def spawn(
        self,
        actor: type[A] | A,
        *args: Any,
        name: Hashable | None = None,
        link: Pid[Any] | None = None,
        parent: Pid[Any] | None = None,
        trap_exit: bool = False,
        **kwargs: Any,
    ) -> Pid[A]:
        """Start a process running ``actor`` and return its pid at once.

        ``actor`` is an :class:`Actor` subclass (instantiated with ``*args,
        **kwargs``) or a ready instance. ``init`` runs in the new process
        before any message. Use :meth:`start` to wait for ``init``.

        Args:
            name: a unique registered name (raises NameTaken if taken).
            link: link the new process to this pid (``spawn_link``).
            parent: the supervisor or owner shown in the tree; its exit signal
                makes a trapping child run ``terminate`` (TRP-2).
            trap_exit: start with exits trapped.
        """
        instance = actor(*args, **kwargs) if isinstance(actor, type) else actor
        if not isinstance(instance, Actor):
            got = type(instance).__name__
            raise Misuse(f"spawn needs an Actor subclass or instance, got {got}")
        if isinstance(instance, ThreadActor):
            instance = bridge_for(instance)  # type: ignore[assignment]
        serial = next(self._serials)
        pid: Pid[A] = Pid(self.node_id, serial)
        proc = Process(self, pid, instance, parent if parent is not None else link)
        if parent is not None and self._pending_restarts:
            proc.restarts = self._pending_restarts.get(parent, 0)
        pid._proc = proc
        instance._process = proc
        proc.trap_exit = trap_exit
        if name is not None:
            self.registry.register(proc, name)
        self._procs[serial] = proc
        self.spawned_total += 1
        if link is not None:
            self.link(pid, link)
        request = self._start_request
        if request is None:
            proc.start()
            return pid
        self._start_request = None  # this spawn's only: init may spawn others
        self._sync_starts[proc] = request
        try:
            proc.start()
        finally:
            del self._sync_starts[proc]
        return pid

    def spawn_link(
        self, actor: type[A] | A, *args: Any, link_to: Pid[Any], **kwargs: Any
    ) -> Pid[A]:
        """:meth:`spawn` and link to ``link_to`` in one step (LNK-1)."""
        return self.spawn(actor, *args, link=link_to, **kwargs)

    def spawn_monitor(
        self, actor: type[A] | A, *args: Any, watcher: Pid[Any] | None, **kwargs: Any
    ) -> tuple[Pid[A], Ref]:
        """:meth:`spawn` and monitor the new process from ``watcher``."""
        pid = self.spawn(actor, *args, **kwargs)
        return pid, self.monitor(watcher, pid)

    async def start(
        self,
        actor: type[A] | A,
        *args: Any,
        timeout: float | None = 5.0,
        **kwargs: Any,
    ) -> Pid[A]:
        """Spawn and wait until ``init`` returns (GenServer ``start``).

        Returns:
            the pid. If ``init`` returned ``Ignore()`` the process exited
            normally and :class:`StartIgnored` is raised.

        Raises:
            StartError: ``init`` raised or returned ``Stop(reason)``; the
                reason is on the error. A linked caller gets no exit signal.
            NameTaken: the name is taken.
        """
        pid = self._spawn_for_start(actor, args, kwargs)
        proc = pid._proc
        assert proc is not None
        if proc.status != "starting":
            return pid  # init already ran (the default one, or a plain def)
        starter = kwargs.get("link")
        fut = self.loop.create_future()
        self._init_waiters[proc] = (fut, starter)
        # A timer on the future, not asyncio.wait_for: every join and
        # connection starts processes, and wait_for's extra task and
        # callbacks showed up in profiles.
        timer = self.loop.call_later(timeout, _expire_start, fut) if timeout else None
        try:
            outcome = await fut
        except TimeoutError:
            self._init_waiters.pop(proc, None)
            if starter is not None:
                # Only the caller is spared: what init linked dies with the process.
                self.unlink(pid, starter)
            if pid._proc is not None:
                self.exit(pid, "kill")
            raise StartError("timeout") from None
        finally:
            if timer is not None:
                timer.cancel()
        if outcome is None:
            return pid
        if isinstance(outcome, Ignore):
            raise StartIgnored()
        raise StartError(outcome) from (outcome if isinstance(outcome, BaseException) else None)

    def start_now(self, actor: type[A] | A, *args: Any, **kwargs: Any) -> Pid[A]:
        """:meth:`start` with no await, for an actor whose ``init`` runs inside
        spawn (the default one or a plain def, see :func:`starts_in_spawn`):
        when spawn returns, ``init`` has run and its outcome is known.

        Example::

            pid = node.start_now(Counter, 0, link=owner)

        Raises:
            Misuse: ``init`` is ``async def``; use :meth:`start`.
            StartError, StartIgnored, NameTaken: as :meth:`start`.
        """
        cls = actor if isinstance(actor, type) else type(actor)
        if not starts_in_spawn(cls):
            raise Misuse(f"{cls.__name__}.init is async: use 'await node.start(...)'")
        return self._spawn_for_start(actor, args, kwargs)

    def _spawn_for_start(self, actor: Any, args: Any, kwargs: dict[str, Any]) -> Pid[Any]:
        """Spawn for a start: raise what a failed plain-def init (or a dead
        link) ended the process with; else return the pid, init maybe pending."""
        request = self._start_request = [kwargs.get("link"), _NO_OUTCOME]
        try:
            pid = self.spawn(actor, *args, **kwargs)
        finally:
            self._start_request = None
        if pid._proc is None:
            outcome = request[1]
            if outcome is _NO_OUTCOME:
                # Linked to a dead pid: the noproc signal ended it before init (LNK-7).
                raise StartError(NOPROC)
            if isinstance(outcome, Ignore):
                raise StartIgnored()
            raise StartError(outcome) from (outcome if isinstance(outcome, BaseException) else None)
        return pid

    async def start_link(
        self, actor: type[A] | A, *args: Any, link_to: Pid[Any], **kwargs: Any
    ) -> Pid[A]:
        """:meth:`start` linked to ``link_to``; the usual way supervisors start children."""
        return await self.start(actor, *args, link=link_to, **kwargs)

    def _init_done(self, proc: Process, outcome: Any) -> None:
        waiter = self._init_waiters.pop(proc, None)
        if waiter is None:
            request = self._sync_starts.get(proc)
            if request is not None:
                if outcome is not None and request[0] is not None:
                    self.unlink(proc.pid, request[0])  # GS-1, as below
                request[1] = outcome
            return
        fut, starter = waiter
        # GS-1: a failed init under start_link must not also kill the linker;
        # processes init itself linked still get the exit signal.
        if outcome is not None and starter is not None:
            self.unlink(proc.pid, starter)
        if not fut.done():
            fut.set_result(outcome)

    # -- lookup ---------------------------------------------------------------
    def whereis(self, name: Hashable) -> Pid[Any] | None:
        """The pid registered under ``name``, or None."""
        return self.registry.whereis(name)

    def resolve(self, target: Pid[Any] | Hashable) -> Pid[Any]:
        """A pid for ``target`` (a pid or a registered name).

        Raises:
            NoProcess: ``target`` is a name nobody holds (PID-3).
        """
        if target.__class__ is Pid:
            return target  # type: ignore[return-value]
        pid = self.registry.whereis(target)
        if pid is None:
            raise NoProcess(target, "name not registered")
        return pid

    def process(self, pid: Pid[Any]) -> Process | None:
        """Internal: the live process behind ``pid``."""
        return pid._proc

    def __len__(self) -> int:
        return len(self._procs)

    def pids(self) -> Iterator[Pid[Any]]:
        """Every live pid (a snapshot iterator)."""
        return iter([p.pid for p in self._procs.values()])

    def handled_counts(self) -> dict[int, int]:
        """Messages handled so far by every live process, by serial number
        (what rate samplers read each second: ints only, no pid hashing)."""
        return {serial: proc.handled for serial, proc in self._procs.items()}

    def lookup_pid(self, serial: int) -> Pid[Any] | None:
        """The live pid with this serial number, or None."""
        proc = self._procs.get(serial)
        return proc.pid if proc is not None else None

    # -- links, monitors, exits ---------------------------------------------------
    def link(self, a: Pid[Any], b: Pid[Any]) -> None:
        """Link ``a`` and ``b``. If ``b`` is dead, ``a`` gets a ``noproc`` exit signal."""
        pa, pb = a._proc, b._proc
        if pa is None or pa is pb:  # a live pid's process is itself: no Pid.__eq__
            return
        if pb is None:
            # LNK-7: the signal comes from the dead pid, so Exit names it.
            self._queue_signal(pa, None, NOPROC, linked=True, sender_pid=b)
            return
        _add_link(pa, pb)
        _add_link(pb, pa)

    def unlink(self, a: Pid[Any], b: Pid[Any]) -> None:
        """Remove the link between ``a`` and ``b`` if any."""
        pa, pb = a._proc, b._proc
        if pa is not None and pb is not None:
            _drop_link(pa, pb)
            _drop_link(pb, pa)

    def monitor(self, watcher: Pid[Any] | None, target: Pid[Any]) -> Ref:
        """Monitor ``target`` from ``watcher``; ``Down`` arrives once (MON-1..3).

        ``watcher`` None means the caller is not a process; use
        :meth:`wait_exit` instead to await an exit from plain code.
        """
        pw = watcher._proc if watcher is not None else None
        ref = Ref(next(self._refs), pw.pid.serial if pw is not None else 0)
        pt = target._proc
        if pt is None:
            if pw is not None:
                pw.deliver_info(Down(ref, target, NOPROC))
            return ref
        if pw is None or pw is pt:
            return ref  # nobody (alive) could receive the Down
        if pt.monitors is None:
            pt.monitors = {}
        pt.monitors[ref] = pw
        if pw.monitors is None:
            pw.monitors = {}
        pw.monitors[ref] = pt
        return ref

    def demonitor(self, ref: Ref, *, flush: bool = False) -> None:
        """Stop monitor ``ref``. ``flush`` also removes its queued ``Down``."""
        proc = self._procs.get(ref.watcher)
        if proc is not None and proc.monitors and ref in proc.monitors:
            target = proc.monitors.pop(ref)
            if target.monitors:
                target.monitors.pop(ref, None)
            if flush:
                self._flush_down(proc, ref)
            return
        if flush:
            # MON-4: the target already died, so its Down may sit in a mailbox.
            for proc in self._procs.values():
                if proc.mailbox and any(
                    e[1].__class__ is Down and e[1].ref == ref for e in proc.mailbox
                ):
                    self._flush_down(proc, ref)
                    return

    def _flush_down(self, proc: Process, ref: Ref) -> None:
        if proc.mailbox:
            kept = [e for e in proc.mailbox if not (e[1].__class__ is Down and e[1].ref == ref)]
            proc.mailbox.clear()
            proc.mailbox.extend(kept)

    def demonitor_from(self, watcher: Pid[Any], ref: Ref, *, flush: bool = False) -> None:
        """Fast :meth:`demonitor` when the watcher is known."""
        pw = watcher._proc
        if pw is None:
            return
        if pw.monitors and ref.watcher == pw.pid.serial:
            target = pw.monitors.pop(ref, None)
            if target is not None and target.monitors:
                target.monitors.pop(ref, None)
        if flush:
            # Also when the target already died: its Down may be queued (MON-4).
            self._flush_down(pw, ref)

    def exit(self, pid: Pid[Any], reason: Any, *, sender: Pid[Any] | None = None) -> None:
        """Send an exit signal to ``pid`` (Erlang ``exit/2``).

        ``"kill"`` cannot be trapped and ends the process with ``"killed"``;
        ``"normal"`` is ignored by a non-trapping process other than the
        sender itself; any other reason ends a non-trapping process and
        reaches a trapping one as an ``Exit`` message.
        """
        target = pid._proc
        if target is None:
            return
        source = sender._proc if sender is not None else None
        self._queue_signal(target, source, reason, linked=False, sender_pid=sender)

    def _queue_signal(
        self,
        target: Process,
        sender: Process | None,
        reason: Any,
        *,
        linked: bool,
        sender_pid: Pid[Any] | None = None,
    ) -> None:
        self._signals.append((target, sender, (reason, linked, sender_pid)))
        if self._delivering:
            return
        # Iterative, so a chain of 10,000 links cannot blow the stack.
        self._delivering = True
        try:
            while self._signals:
                tgt, src, (why, was_linked, spid) = self._signals.popleft()
                if src is None and spid is not None:
                    src = _Ghost(spid)  # type: ignore[assignment]
                tgt.signal_exit(src, why, linked=was_linked)
        finally:
            self._delivering = False

    async def stop(self, pid: Pid[Any], reason: Any = NORMAL, timeout: float | None = 5.0) -> Any:
        """Stop ``pid`` synchronously (GenServer.stop): ``terminate`` runs.

        Returns the exit reason. Raises NoProcess if it is not alive, and
        Misuse (``calling_self``) from inside the process itself.
        """
        proc = pid._proc
        if proc is None:
            raise NoProcess(pid)
        if proc._running_now():
            # Waiting inside our own handler for our own exit can never end (GS-7).
            raise Misuse(f"calling_self: {pid} tried to stop itself; return Stop(reason)")
        done = proc.wait_exit()
        if proc.exit_reason is None and proc.status != "exiting":
            proc._enqueue((4, reason, None))  # PARENT_EXIT path: terminate then exit
        try:
            # shield: a timeout must not cancel the future we await after the kill
            return await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            self.exit(pid, "kill")
            return await done

    async def wait_exit(self, pid: Pid[Any]) -> Any:
        """Wait for ``pid`` to exit and return its reason (``noproc`` if dead)."""
        proc = pid._proc
        if proc is None:
            return NOPROC
        return await proc.wait_exit()

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every process from the top down (SHD-6), then kill what is left.

        Each root (a process without a live parent) gets ``shutdown`` as if
        from its parent: a trapping root, such as a supervisor, runs
        ``terminate`` and takes its own tree down in order; any other root
        exits at once and its links follow. Processes still alive after that
        get ``shutdown`` themselves, and whatever is left when ``timeout``
        seconds have passed is killed.
        """
        deadline = self.loop.time() + timeout
        roots = [p for p in self._procs.values() if p.parent is None or p.parent._proc is None]
        await self._shutdown_wave(roots, deadline)
        await self._shutdown_wave(list(self._procs.values()), deadline)
        for p in list(self._procs.values()):
            self._queue_signal(p, None, "kill", linked=False)

    async def _shutdown_wave(self, procs: list[Process], deadline: float) -> None:
        waits = []
        for p in reversed(procs):
            if p.exit_reason is not None:
                continue
            waits.append(p.wait_exit())
            if p.parent is None and p.trap_exit:
                # The node stands in as the parent: terminate, not an Exit message.
                p._enqueue((PARENT_EXIT, SHUTDOWN, None))
            else:
                self._queue_signal(p, None, SHUTDOWN, linked=False, sender_pid=p.parent)
        remaining = deadline - self.loop.time()
        if waits and remaining > 0:
            await asyncio.wait(waits, timeout=remaining)

    # -- exits --------------------------------------------------------------------
    def _process_exited(self, proc: Process, reason: Any) -> None:
        self._procs.pop(proc.pid.serial, None)
        self.handled_by_dead += proc.handled
        self.registry._remove_process(proc)
        waiter = self._init_waiters.pop(proc, None)
        if waiter is not None and not waiter[0].done():
            waiter[0].set_result(reason)  # died during init: start() fails now, not at its timeout
        monitors = proc.monitors
        if monitors:
            proc.monitors = None
            pid = proc.pid
            serial = pid.serial
            for ref, other in monitors.items():
                if other.monitors:
                    other.monitors.pop(ref, None)
                if ref.watcher != serial:  # the other process watched us
                    other.deliver_info(Down(ref, pid, reason))
        links = proc.links
        proc.links = None
        for listener in self.exit_listeners:
            try:
                listener(proc.pid, reason)
            except Exception:  # a listener must not break exits
                _log.exception("exit listener failed")
        if links is not None:
            for other in (links,) if links.__class__ is Process else links:
                _drop_link(other, proc)
                self._queue_signal(other, proc, reason, linked=True)

    def _report_crash(self, proc: Process, reason: Any) -> None:
        self.crashed_total += 1
        exc = reason if isinstance(reason, BaseException) else None
        _log.error(
            "process %s (%s) exited: %r",
            proc.pid,
            type(proc.actor).__name__,
            reason,
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
            # Structured fields: JSON logs carry pid/name/kind beside the message.
            extra={
                "pid": str(proc.pid),
                "registered_name": str(proc.names[0]) if proc.names else None,
                "kind": getattr(proc.actor, "kind", "worker"),
                "label": repr(proc.label) if proc.label is not None else None,
            },
        )

    # -- introspection -------------------------------------------------------------
    def info(self, pid: Pid[Any]) -> ProcessInfo | None:
        """A snapshot of one process, or None if it is not alive."""
        proc = pid._proc
        return _snapshot(proc) if proc is not None else None

    def processes(self) -> list[ProcessInfo]:
        """Immutable snapshots of every live process, in spawn order."""
        return [_snapshot(p) for p in list(self._procs.values())]

    def statistics(self) -> dict[str, int]:
        """Counters: live processes, spawned and crashed since start."""
        return {
            "processes": len(self._procs),
            "spawned_total": self.spawned_total,
            "crashed_total": self.crashed_total,
        }


def _expire_start(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class StartIgnored(StartError):
    """``init`` returned ``Ignore()``: nothing was started (not an error for supervisors)."""

    def __init__(self) -> None:
        super().__init__("ignore")


class _Ghost:
    """Stands in for a sender that is not (or no longer) a live process."""

    __slots__ = ("pid",)

    def __init__(self, pid: Pid[Any]) -> None:
        self.pid = pid


# A process's links are None, one Process, or a set of them: most processes
# link only to their supervisor, and a one-element set costs 216 bytes.
def _add_link(proc: Process, other: Process) -> None:
    links = proc.links
    if links is None:
        proc.links = other
    elif links.__class__ is Process:
        if links is not other:
            proc.links = {links, other}
    else:
        links.add(other)


def _drop_link(proc: Process, other: Process) -> None:
    links = proc.links
    if links is None:
        return
    if links.__class__ is Process:
        if links is other:
            proc.links = None
    else:
        links.discard(other)


def _snapshot(proc: Process) -> ProcessInfo:
    actor = proc.actor
    try:
        summary = actor.summary()
    except Exception as exc:  # a broken summary must not break the tree
        summary = f"<summary failed: {exc!r}>"
    cls = type(actor)
    mons = list(proc.monitors.items()) if proc.monitors else []
    links = proc.links
    linked = () if links is None else (links,) if links.__class__ is Process else links
    serial = proc.pid.serial
    return ProcessInfo(
        pid=proc.pid,
        name=proc.names[0] if proc.names else None,
        kind=getattr(actor, "kind", "worker"),
        actor=getattr(actor, "actor_name", None) or f"{cls.__module__}.{cls.__qualname__}",
        parent=proc.parent,
        links=tuple(sorted(p.pid for p in linked)),
        monitors=tuple(p.pid for r, p in mons if r.watcher == serial),
        monitored_by=tuple(p.pid for r, p in mons if r.watcher != serial),
        mailbox_len=proc.mailbox_len(),
        handled=proc.handled,
        restarts=proc.restarts,
        started_at=proc.started_at,
        status=proc.status,
        trap_exit=proc.trap_exit,
        label=proc.label,
        summary=summary,
    )
