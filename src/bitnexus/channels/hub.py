"""The :class:`Hub`: what socket mounts share on one node — the PubSub, the
presence tracker and the two dynamic supervisors for connections and channels.

Example::

    hub = Hub(node, pubsub)
    children = [*hub.child_specs(), ...]     # add to the application tree
    hub.broadcast("room:1", "new_msg", {"body": "hi"})   # from outside any channel
"""

from __future__ import annotations

from typing import Any

from bitnexus.actors import Node, Pid
from bitnexus.channels.protocol import Broadcast
from bitnexus.exceptions import NoProcess
from bitnexus.pubsub import PubSub
from bitnexus.supervision import ChildSpec, DynamicSupervisor

__all__ = ["Hub"]


class Hub:
    """Shared channel machinery of one node.

    Args:
        node: the node.
        pubsub: broadcasts between channels (and nodes).
        prefix: registered-name prefix of the supervisors.
    """

    def __init__(self, node: Node, pubsub: PubSub, *, prefix: str = "bitnexus") -> None:
        self.node = node
        self.pubsub = pubsub
        self.connections_name = f"{prefix}.connections"
        self.channels_name = f"{prefix}.channels"
        self.presence: Any = None
        """A :class:`~bitnexus.channels.presence.Presence`, once one is attached."""

    def attach_presence(self, *, name: str | None = None) -> list[ChildSpec]:
        """Create this node's :class:`~bitnexus.channels.presence.Presence`,
        set :attr:`presence`, and return its tracker's child specs."""
        from bitnexus.channels.presence import Presence  # presence imports nothing of the hub

        presence = Presence(self.pubsub) if name is None else Presence(self.pubsub, name=name)
        self.presence = presence
        return presence.child_specs()

    def child_specs(self) -> list[ChildSpec]:
        """The supervisors to put in the application tree (channels first, so
        they stop after the connections that use them)."""
        return [
            ChildSpec.for_actor(
                DynamicSupervisor,
                id=self.channels_name,
                name=self.channels_name,
                max_restarts=1_000_000,
                max_seconds=1.0,
            ),
            ChildSpec.for_actor(
                DynamicSupervisor,
                id=self.connections_name,
                name=self.connections_name,
                max_restarts=1_000_000,
                max_seconds=1.0,
            ),
        ]

    def _sup(self, name: str) -> Pid[Any]:
        pid = self.node.whereis(name)
        if pid is None:
            raise NoProcess(
                name, "the channel supervisors are not running; add hub.child_specs() to the tree"
            )
        return pid

    @property
    def connections_sup(self) -> Pid[Any]:
        return self._sup(self.connections_name)

    @property
    def channels_sup(self) -> Pid[Any]:
        return self._sup(self.channels_name)

    def broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Broadcast ``event`` to every channel on ``topic`` (Endpoint.broadcast)."""
        return self.pubsub.broadcast(topic, Broadcast(topic, event, payload))

    def local_broadcast(self, topic: str, event: str, payload: Any) -> int:
        """Broadcast to this node's channels only."""
        return self.pubsub.local_broadcast(topic, Broadcast(topic, event, payload))

    def disconnect(self, socket_id: str) -> int:
        """Close every connection whose ``Socket.id`` is ``socket_id`` (S44, close 1001)."""
        return self.broadcast(socket_id, "disconnect", {})

    def connection_pids(self) -> list[Pid[Any]]:
        """Live connection processes (for draining)."""
        sup = self.node.whereis(self.connections_name)
        if sup is None or sup._proc is None:
            return []
        actor = sup._proc.actor
        # Long-poll sessions live under the same supervisor; count connections only.
        return [
            pid
            for pid in getattr(actor, "children", {})
            if pid._proc is not None and pid._proc.actor.kind == "connection"
        ]
