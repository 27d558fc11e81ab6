"""The process runtime: BEAM-style processes on asyncio.

Public names: :class:`Node`, :class:`Pid`, :class:`Actor` and its results
(:class:`Reply`, :class:`NoReply`, :class:`Stop`, :class:`Ignore`), signal
messages (:class:`Exit`, :class:`Down`, :data:`Timeout`), exit reasons,
:class:`Registry`, :class:`ThreadActor`, :class:`ProcessInfo`.

This package imports nothing from the rest of BitNexus except
``bitnexus.exceptions`` (a test enforces it).

Example::

    from bitnexus.actors import Actor, Node, Reply

    class Echo(Actor):
        async def handle_call(self, request, from_):
            return Reply(request)

    node = Node()
    pid = await node.start(Echo)
    assert await pid.call("hi") == "hi"
"""

from bitnexus.actors.actor import Actor, Ignore, NoReply, Reply, Stop
from bitnexus.actors.info import ProcessInfo
from bitnexus.actors.node import Node, StartIgnored
from bitnexus.actors.pid import DEFAULT_CALL_TIMEOUT, From, Pid, Ref
from bitnexus.actors.process import starts_in_spawn
from bitnexus.actors.registry import Registry
from bitnexus.actors.signals import (
    KILL,
    KILLED,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    Down,
    Exit,
    Timeout,
    is_normal_exit,
    shutdown_reason,
)
from bitnexus.actors.threaded import ThreadActor

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "KILL",
    "KILLED",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "Actor",
    "Down",
    "Exit",
    "From",
    "Ignore",
    "NoReply",
    "Node",
    "Pid",
    "ProcessInfo",
    "Ref",
    "Registry",
    "Reply",
    "StartIgnored",
    "Stop",
    "ThreadActor",
    "Timeout",
    "is_normal_exit",
    "shutdown_reason",
    "starts_in_spawn",
]
