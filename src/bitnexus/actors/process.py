"""Internal: the engine that runs one actor as a process.

Design (why it is cheap): an idle process owns no asyncio task and no queue,
only this object, its actor and an empty mailbox slot. A message arriving at
an idle process starts one task that runs the mailbox: each handler is
awaited in turn (a handler that returns without suspending costs the
interpreter's fast ``await`` path), in the process's own contextvars
context. When the mailbox is empty the task ends, so the process is back to
costing nothing while idle. Handlers always run inside a task, so
``asyncio.timeout``, ``TaskGroup`` and asyncpg work in them.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bitnexus.actors.actor import Actor, Ignore, NoReply, Reply, Stop
from bitnexus.actors.pid import From, Pid
from bitnexus.actors.signals import KILL, KILLED, NORMAL, Exit, Timeout, is_normal_exit
from bitnexus.exceptions import BadCallbackResult

if TYPE_CHECKING:
    from bitnexus.actors.node import Node
    from bitnexus.actors.pid import Ref

_log = logging.getLogger("bitnexus.actors")

# Mailbox entry tags. Entries are small tuples: (tag, message, from_or_None).
CAST, CALL, INFO, INIT, PARENT_EXIT, TIMEOUT = range(6)

STARTING, RUNNING, WAITING, EXITING, DEAD = "starting", "running", "waiting", "exiting", "dead"

_CALL_SHAPES = "Reply(value, timeout=None), NoReply(timeout=None), Stop(reason, reply=...)"
_ASYNC_SHAPES = "None, NoReply(timeout=None), Stop(reason)"
_INIT_SHAPES = "None, NoReply(timeout=None), Ignore(), Stop(reason)"
_ASYNC_INITS: dict[Any, bool] = {}


def _is_async(init: Any) -> bool:
    """Whether an ``init`` must be awaited (cached: spawn asks on every start)."""
    known = _ASYNC_INITS.get(init)
    if known is None:
        known = _ASYNC_INITS[init] = inspect.iscoroutinefunction(init)
    return known


def starts_in_spawn(actor: type[Actor]) -> bool:
    """True when ``actor``'s init (the default one, or a plain def) runs to
    the end inside ``spawn``, so starting it never awaits anything.

    Example::

        starts_in_spawn(Connection)  # True: its init is a plain def
    """
    init = actor.init
    return init is Actor.init or not _is_async(init)


class Process:
    """One running actor: mailbox, links, monitors, counters. Internal."""

    __slots__ = (
        "_active",
        "_ctx",
        "_current_from",
        "_exit_waiters",
        "_pending_exit",
        "_pending_froms",
        "_stop_reason",
        "_task",
        "_timeout_after",
        "_timer",
        "actor",
        "exit_reason",
        "handled",
        "keys",
        "label",
        "links",
        "loop",
        "mailbox",
        "monitors",
        "names",
        "node",
        "parent",
        "pid",
        "restarts",
        "spawn_info",
        "started_at",
        "status",
        "trap_exit",
    )

    def __init__(self, node: Node, pid: Pid[Any], actor: Actor, parent: Pid[Any] | None) -> None:
        self.node = node
        self.loop = node.loop
        self.pid = pid
        self.actor = actor
        self.parent = parent
        self.mailbox: deque[tuple[int, Any, Any]] | None = None
        self._active = False
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timeout_after: float | None = None
        self._current_from: From | None = None
        self._ctx: contextvars.Context | None = None
        self._stop_reason: Any = None
        self._pending_froms: list[From] | None = None
        self._pending_exit: Any = None
        self._exit_waiters: list[asyncio.Future[Any]] | None = None
        self.links: Process | set[Process] | None = None  # see node._add_link
        # Monitors both ways in one table: ref -> the other process. We hold
        # the ref (we watch) when ref.watcher is our serial; otherwise the
        # other process watches us. One dict, not two, per monitored pair.
        self.monitors: dict[Ref, Process] | None = None
        self.names: list[Any] | None = None
        self.keys: list[Any] | None = None
        self.trap_exit = False
        self.exit_reason: Any = None
        self.status = STARTING
        self.handled = 0
        self.restarts = 0
        self.label: Any = None
        self.spawn_info: Any = None
        self.started_at = time.time()

    @property
    def idle(self) -> bool:
        """Alive, with an empty mailbox and no callback running or pending."""
        return not self._active and self.status == WAITING

    # -- delivery (never waits) --------------------------------------------
    def _enqueue(self, entry: tuple[int, Any, Any]) -> None:
        mb = self.mailbox
        if mb is None:
            mb = self.mailbox = deque()
        mb.append(entry)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._active:
            self._active = True
            self._schedule()

    def deliver_cast(self, message: Any) -> None:
        if self.exit_reason is None:
            self._enqueue((CAST, message, None))

    def deliver_info(self, message: Any) -> None:
        if self.exit_reason is None:
            self._enqueue((INFO, message, None))

    def deliver_call(self, message: Any, from_: From) -> None:
        if self.exit_reason is None:
            self._enqueue((CALL, message, from_))
        else:
            from_.fail(self.pid, self.exit_reason)

    def start(self) -> None:
        """Queue ``init`` as the very first thing the process does."""
        if self.exit_reason is not None:
            return  # a signal during spawn ended it (linked to a dead pid)
        mb = self.mailbox
        actor_cls = type(self.actor)
        if starts_in_spawn(actor_cls):
            # Nothing to await: the process is ready at once and, while idle,
            # costs no scheduled callback. A plain-def init runs right here.
            if actor_cls.init is not Actor.init and not self._init_now():
                return
            self.status = WAITING
            if self._timeout_after is not None and not mb:
                self._go_idle()  # init asked for a timeout: arm it
                return
            if mb and not self._active:
                self._active = True
                self._schedule()
            return
        if mb is None:
            self.mailbox = deque(((INIT, None, None),))
        else:
            # A signal that arrived during spawn (an Exit) is already queued
            # and a drain scheduled; init still goes first.
            mb.appendleft((INIT, None, None))
        if not self._active:
            self._active = True
            self._schedule()

    def _init_now(self) -> bool:
        """Run a synchronous ``init`` inside spawn. False when it refused or
        raised: the process is then gone, quietly, as after an async init."""
        try:
            result = self.actor.init()
        except Exception as exc:  # init failures are start failures (GS-1)
            return self._init_refused(exc, exc)
        return self._init_result(result)

    def _init_result(self, result: Any) -> bool:
        """Act on what ``init`` returned, whether it ran inside spawn or was
        awaited in the drain. False when it refused: the process is gone."""
        cls = result.__class__
        if result is None or cls is NoReply:
            self._timeout_after = None if result is None else result.timeout
            self.status = WAITING
            self.node._init_done(self, None)
            return True
        if cls is Stop:
            return self._init_refused(result.reason, result.reason)
        if cls is Ignore:
            return self._init_refused(Ignore(), NORMAL)
        error = BadCallbackResult(self.actor, "init", result, _INIT_SHAPES)
        return self._init_refused(error, error)

    def _init_refused(self, outcome: Any, reason: Any) -> bool:
        """End a process whose init refused or failed: no terminate, no crash
        report (GS-1); ``start()`` learns ``outcome``."""
        self.node._init_done(self, outcome)
        self._die(reason, quiet=True)
        return False

    # -- the drain loop ------------------------------------------------------
    def _dispatch(self, entry: tuple[int, Any, Any]) -> Coroutine[Any, Any, Any]:
        tag = entry[0]
        actor = self.actor
        if tag == CAST:
            return actor.handle_cast(entry[1])
        if tag == CALL:
            self._current_from = entry[2]
            return actor.handle_call(entry[1], entry[2])
        if tag == INFO:
            return actor.handle_info(entry[1])
        if tag == TIMEOUT:
            return actor.handle_info(Timeout)
        if tag == INIT:
            return actor.init()
        return actor.terminate(entry[1])  # PARENT_EXIT

    def _schedule(self) -> None:
        """Run the mailbox in a task until it is empty; the task then ends,
        so an idle process owns none. Handlers always run inside a task, so
        ``asyncio.timeout``, ``TaskGroup`` and asyncpg work in them; the task
        runs in the process's own context (its 'process dictionary')."""
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = contextvars.Context()
        self._task = self.loop.create_task(self._run(), context=ctx)

    async def _run(self) -> None:
        mb = self.mailbox
        actor = self.actor
        self.status = RUNNING
        while mb and self.exit_reason is None:
            entry = mb.popleft()
            tag = entry[0]
            try:
                # Casts and infos are most of the traffic: dispatch them inline.
                if tag == CAST:
                    result = await actor.handle_cast(entry[1])
                elif tag == INFO:
                    result = await actor.handle_info(entry[1])
                else:
                    result = await self._dispatch(entry)
            except GeneratorExit:
                raise
            except asyncio.CancelledError:
                if self.exit_reason is None:
                    self._die(KILLED if self._pending_exit is None else self._pending_exit)
                return
            except BaseException as exc:  # a crash is an exit, like on the BEAM
                self._crash(exc, entry)
                if self.status == EXITING and self.exit_reason is None:
                    await self._terminate()
                return
            if result is None and tag <= INFO and tag != CALL and self._pending_exit is None:
                self.handled += 1
                self._timeout_after = None
                continue
            if not self._apply(entry, result):
                if self.status == EXITING and self.exit_reason is None:
                    await self._terminate()
                return
        self._task = None
        self._go_idle()

    def _go_idle(self) -> None:
        self._active = False
        if self.exit_reason is not None:
            return
        self.status = WAITING
        if self.mailbox is not None and not self.mailbox:
            self.mailbox = None  # an idle process keeps no deque
        after = self._timeout_after
        if after is not None:
            self._timeout_after = None
            self._timer = self.loop.call_later(after, self._fire_timeout)

    def _fire_timeout(self) -> None:
        self._timer = None  # fired: nothing left for _enqueue to cancel
        self._enqueue((TIMEOUT, None, None))

    # -- results -----------------------------------------------------------
    def _apply(self, entry: tuple[int, Any, Any], result: Any) -> bool:
        """Act on a callback result. Returns False when the process is done."""
        self.handled += 1
        tag = entry[0]
        if self._pending_exit is not None:
            self._die(self._pending_exit)
            return False
        if tag == PARENT_EXIT:
            self._die(entry[1])
            return False
        cls = result.__class__
        if tag == CALL:
            self._current_from = None
            from_: From = entry[2]
            if cls is Reply:
                from_.reply(result.value)
                self._timeout_after = result.timeout
                return True
            if cls is NoReply:
                self._remember_pending(from_)
                self._timeout_after = result.timeout
                return True
            if cls is Stop:
                if result.has_reply:
                    from_.reply(result.reply)
                else:
                    self._remember_pending(from_)
                self._stop(result.reason)
                return False
            self._current_from = from_  # the crash must fail this caller too
            self._crash(BadCallbackResult(self.actor, "handle_call", result, _CALL_SHAPES), entry)
            return False
        if tag == INIT:
            return self._init_result(result)
        if result is None:
            self._timeout_after = None
            return True
        if cls is NoReply:
            self._timeout_after = result.timeout
            return True
        if cls is Stop:
            self._stop(result.reason)
            return False
        callback = "handle_cast" if tag == CAST else "handle_info"  # INFO, TIMEOUT
        self._crash(BadCallbackResult(self.actor, callback, result, _ASYNC_SHAPES), entry)
        return False

    def _remember_pending(self, from_: From) -> None:
        pending = self._pending_froms
        if pending is None:
            self._pending_froms = [from_]
            return
        if len(pending) >= 64:
            pending[:] = [f for f in pending if not f.answered]
        pending.append(from_)

    # -- stopping ------------------------------------------------------------
    def _crash(self, exc: BaseException, entry: tuple[int, Any, Any]) -> None:
        tag = entry[0]
        if self.exit_reason is not None:
            return
        if self._pending_exit is not None:
            self._die(self._pending_exit)
            return
        if tag == INIT:
            self._init_refused(exc, exc)  # init failures are start failures (GS-1)
            return
        if tag == PARENT_EXIT:
            self._die(entry[1])
            return
        self._stop(exc)

    def _stop(self, reason: Any) -> None:
        """Mark the process exiting; the runner then runs ``terminate(reason)``
        in the same task and exits with ``reason``."""
        if self.exit_reason is not None:
            return
        self.status = EXITING
        self._stop_reason = reason

    async def _terminate(self) -> None:
        reason = self._stop_reason
        self._stop_reason = None
        try:
            await self.actor.terminate(reason)
        except asyncio.CancelledError:
            if self.exit_reason is None:
                self._die(KILLED if self._pending_exit is None else self._pending_exit)
            return
        except GeneratorExit:
            raise
        except BaseException:
            _log.exception("%s terminate raised", self.pid)
        if self.exit_reason is None:
            self._die(reason)

    def signal_exit(self, sender: Process | None, reason: Any, *, linked: bool) -> None:
        """Receive an exit signal (LNK-3..6, TRP-1/2, SHD-3)."""
        if self.exit_reason is not None:
            return
        if reason == KILL and not linked and not isinstance(reason, BaseException):
            self._kill(KILLED)
            return
        if self.trap_exit:
            if sender is not None and sender.pid == self.parent and sender is not self:
                # TRP-2/4: finish earlier messages, then terminate and exit.
                self._enqueue((PARENT_EXIT, reason, None))
                return
            origin = sender.pid if sender is not None else self.node.system_pid
            self._enqueue((INFO, Exit(origin, reason), None))
            return
        if reason == NORMAL and not isinstance(reason, BaseException):
            if sender is self:
                self._kill(NORMAL)
            return
        self._kill(reason)

    def _kill(self, reason: Any) -> None:
        """Exit now, without terminate. Safe to call from inside own handler."""
        if self._running_now():
            self._pending_exit = reason
            task = self._task
            if task is not None:
                # Even our own task: the handler ends at its next await, as
                # the BEAM ends a process that signalled itself.
                task.cancel()
            return
        self._die(reason)

    def _running_now(self) -> bool:
        task = self._task
        return task is not None and task is asyncio.current_task()

    def _die(self, reason: Any, *, quiet: bool = False) -> None:
        if self.exit_reason is not None:
            return
        self.exit_reason = reason
        self.status = DEAD
        self.pid._proc = None
        task = self._task
        self._task = None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # Callers waiting on us learn our reason at once (TMO-3).
        if self._current_from is not None:
            self._current_from.fail(self.pid, reason)
        if self.mailbox:
            for tag, _msg, from_ in self.mailbox:
                if tag == CALL:
                    from_.fail(self.pid, reason)
        self.mailbox = None
        if self._pending_froms:
            for from_ in self._pending_froms:
                from_.fail(self.pid, reason)
            self._pending_froms = None
        if not quiet and not is_normal_exit(reason) and reason != KILLED:
            try:
                self.node._report_crash(self, reason)
            except Exception:  # a broken log handler must not stop the exit itself
                _log.exception("crash report for %s failed", self.pid)
        hook = self.actor._on_exit
        if hook is not None:
            try:
                hook(reason)
            except Exception:  # cleanup hooks must not break exits
                _log.exception("%s exit hook failed", self.pid)
        self.node._process_exited(self, reason)
        if self._exit_waiters:
            for fut in self._exit_waiters:
                if not fut.done():
                    fut.set_result(reason)
            self._exit_waiters = None

    def wait_exit(self) -> asyncio.Future[Any]:
        """A future that resolves with the exit reason."""
        fut: asyncio.Future[Any] = self.loop.create_future()
        if self.exit_reason is not None:
            fut.set_result(self.exit_reason)
            return fut
        if self._exit_waiters is None:
            self._exit_waiters = []
        self._exit_waiters.append(fut)
        return fut

    def mailbox_len(self) -> int:
        return len(self.mailbox) if self.mailbox else 0

    def mailbox_head(self, n: int) -> list[Any]:
        if not self.mailbox:
            return []
        out = []
        for tag, msg, _ in list(self.mailbox)[:n]:
            out.append(("call" if tag == CALL else "cast" if tag == CAST else "info", msg))
        return out
