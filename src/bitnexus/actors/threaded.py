"""Thread actors: blocking or CPU-bound work behind the same pid, call and cast.

Use an ordinary :class:`~bitnexus.actors.Actor` for everything that awaits
(sockets, asyncpg, redis): it costs a few hundred bytes and microseconds. Use
a :class:`ThreadActor` only when a handler must block: password hashing, a
blocking SDK, heavy CPU in a C extension that releases the GIL. Each one owns
an OS thread (pykka ``ThreadingActor``, about 20 KB and 0.2 ms to start), so
keep them few and long-lived, under a supervisor.

Its handlers are plain functions run in that thread; the event loop never
waits for them. A raise in a handler is a crash: the process exits with the
exception, callers get :class:`~bitnexus.exceptions.ProcessExited`, links and
monitors fire, and a supervisor restarts it. ``kill`` ends the process at
once, but a Python thread cannot be interrupted: the thread finishes the
message it is on, then stops.

Example::

    class Hasher(ThreadActor):
        def handle_call(self, request):
            return Reply(argon2.hash(request))

    pid = await node.start(Hasher)
    digest = await pid.call("secret")     # the loop keeps serving meanwhile
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import pykka

from bitnexus.actors.actor import Actor, NoReply, Reply, Stop
from bitnexus.actors.pid import From
from bitnexus.exceptions import BadCallbackResult

__all__ = ["ThreadActor", "bridge_for"]

_log = logging.getLogger("bitnexus.actors")


class ThreadActor(Actor):
    """Behaviour for an actor whose handlers run in their own OS thread.

    Override the *synchronous* hooks ``on_start()``, ``handle_call(request)``
    (return ``Reply(value)`` or ``Stop(reason, reply=...)``),
    ``handle_cast(message)`` (return None or ``Stop``) and ``on_stop(reason)``.
    """

    kind: ClassVar[str] = "thread"

    def on_start(self) -> None:
        """Runs in the actor's thread before any message."""

    def on_stop(self, reason: Any) -> None:
        """Runs in the actor's thread when the process exits: after a graceful
        stop, and also after a crash; after ``kill``, once the thread has
        finished the message it was on (a thread cannot be interrupted)."""

    def handle_call(self, request: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not handle calls")

    def handle_cast(self, message: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not handle casts")


class _Crashed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Stopped:
    __slots__ = ("reason",)

    def __init__(self, reason: Any) -> None:
        self.reason = reason


class _Runner(pykka.ThreadingActor):
    """The pykka side: runs the user's handlers in this actor's thread."""

    use_daemon_thread = True

    def __init__(self, user: ThreadActor, loop: asyncio.AbstractEventLoop, post: Any) -> None:
        super().__init__()
        self.user = user
        self.loop = loop
        self.post = post  # thread-safe "tell the bridge process"

    def on_start(self) -> None:
        try:
            self.user.on_start()
        except BaseException as exc:  # crash becomes an exit
            self.post(_Crashed(exc))

    def on_receive(self, message: Any) -> Any:
        kind, payload, from_ = message
        if kind == "stop":
            try:
                self.user.on_stop(payload)
            except Exception:
                _log.exception("%s.on_stop raised", type(self.user).__name__)
            self.stop()
            return None
        try:
            if kind == "call":
                result = self.user.handle_call(payload)
                if result.__class__ is Reply:
                    from_.reply_threadsafe(result.value)
                elif result.__class__ is Stop:
                    if result.has_reply:
                        from_.reply_threadsafe(result.reply)
                    self.post(_Stopped(result.reason))
                else:
                    raise BadCallbackResult(
                        self.user, "handle_call", result, "Reply(value), Stop(reason)"
                    )
            else:
                result = self.user.handle_cast(payload)
                if result.__class__ is Stop:
                    self.post(_Stopped(result.reason))
                elif result is not None and result.__class__ is not NoReply:
                    raise BadCallbackResult(self.user, "handle_cast", result, "None, Stop(reason)")
        except BaseException as exc:  # crash becomes an exit
            self.post(_Crashed(exc))
        return None


class _ThreadBridge(Actor):
    """The asyncio side: a normal process whose messages go to the thread."""

    kind: ClassVar[str] = "thread"

    def __init__(self, user: ThreadActor) -> None:
        self.user = user
        self.ref: pykka.ActorRef[Any] | None = None

    async def init(self) -> Any:
        loop = asyncio.get_running_loop()
        pid = self.pid

        def post(message: Any) -> None:
            try:
                loop.call_soon_threadsafe(pid.send, message)
            except RuntimeError:  # loop closed: nobody is left to tell
                pass

        self.ref = _Runner.start(self.user, loop, post)
        self.user._process = self._process
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        assert self.ref is not None
        self.ref.tell(("call", request, from_))
        return NoReply()

    async def handle_cast(self, message: Any) -> Any:
        assert self.ref is not None
        self.ref.tell(("cast", message, None))
        return None

    async def handle_info(self, message: Any) -> Any:
        if message.__class__ is _Crashed:
            raise message.error
        if message.__class__ is _Stopped:
            return Stop(message.reason)
        return await super().handle_info(message)

    async def terminate(self, reason: Any) -> None:
        ref = self.ref
        self.ref = None
        if ref is not None and ref.is_alive():
            try:
                ref.tell(("stop", reason, None))
            except pykka.ActorDeadError:
                return
            # Wait for on_stop off the loop so the loop never blocks.
            await asyncio.to_thread(ref.actor_stopped.wait, 5.0)

    def _on_exit(self, reason: Any) -> None:  # type: ignore[override]
        ref = self.ref
        self.ref = None
        if ref is not None:
            try:
                ref.tell(("stop", reason, None))
            except pykka.ActorDeadError:
                pass

    @property
    def actor_name(self) -> str:
        """What the admin tree shows: the user's class, not this bridge."""
        cls = type(self.user)
        return f"{cls.__module__}.{cls.__qualname__}"

    def summary(self) -> Any:
        return {"thread_actor": type(self.user).__name__}


def bridge_for(user: ThreadActor) -> Actor:
    """Internal: wrap a ThreadActor instance in its asyncio bridge."""
    return _ThreadBridge(user)
