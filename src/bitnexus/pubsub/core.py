"""Topic publish/subscribe for the processes of one node, and beyond through
an adapter.

Delivery runs in the broadcaster's own process (like Phoenix's Registry
dispatch), so no single actor sits on every broadcast's path. A subscriber
may register a *fastlane*: an object with ``deliver(message, cache)`` that
takes over delivery, e.g. channels write an encoded frame straight to their
socket instead of waking the channel process, and use ``cache`` to encode
each broadcast once per serializer.

Example::

    pubsub = PubSub(node)
    pubsub.subscribe(pid, "room:1")
    pubsub.broadcast("room:1", {"hello": "world"})   # pid's handle_info gets it
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bitnexus.actors import Node, Pid
from bitnexus.exceptions import Misuse
from bitnexus.pubsub.adapter import Adapter, LocalAdapter

__all__ = ["Fastlane", "PubSub"]

_log = logging.getLogger("bitnexus.pubsub")


class Fastlane(Protocol):
    """Delivers a broadcast on a subscriber's behalf.

    A fastlane class may also define a static ``deliver_all(message, lanes,
    cache, skip) -> int`` that delivers to many of its own lanes at once
    (skipping the lane ``skip``) and returns how many it delivered: when
    every subscriber of a topic has a lane of that one class, PubSub makes
    one call per broadcast instead of one per subscriber.
    """

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None: ...


class PubSub:
    """Subscriptions and broadcasts for one node.

    Args:
        node: whose registry holds the subscriptions (they vanish when a
            subscriber exits).
        adapter: reaches other nodes; :class:`LocalAdapter` by default.
        name: namespaces the registry keys so several PubSubs can share a node.
    """

    def __init__(self, node: Node, *, adapter: Adapter | None = None, name: str = "pubsub") -> None:
        self.node = node
        self.adapter = adapter if adapter is not None else LocalAdapter()
        self.name = name
        self.broadcasts_total = 0
        self.deliveries_total = 0

    def _key(self, topic: str) -> tuple[str, str]:
        return (self.name, topic)

    def subscribe(self, pid: Pid[Any], topic: str, *, fastlane: Fastlane | None = None) -> None:
        """Subscribe ``pid`` to ``topic``. Subscribing again replaces the fastlane."""
        proc = pid._proc
        if proc is None:
            return
        if not isinstance(topic, str):
            raise Misuse(f"topics are strings, got {topic!r}")
        self.node.registry.register_key(proc, self._key(topic), fastlane)

    def unsubscribe(self, pid: Pid[Any], topic: str) -> None:
        """Remove ``pid``'s subscription to ``topic`` (no error if absent)."""
        proc = pid._proc
        if proc is not None:
            self.node.registry.unregister_key(proc, self._key(topic))

    def subscriber_count(self, topic: str) -> int:
        """Local subscribers of ``topic``."""
        return self.node.registry.count(self._key(topic))

    def subscribers(self, topic: str) -> list[Pid[Any]]:
        """Local subscriber pids of ``topic``."""
        return [pid for pid, _ in self.node.registry.lookup(self._key(topic))]

    def broadcast(self, topic: str, message: Any) -> int:
        """Deliver to every subscriber on every node. Returns local deliveries."""
        self.adapter.publish(topic, message, None)
        return self.local_broadcast(topic, message)

    def broadcast_from(self, from_pid: Pid[Any], topic: str, message: Any) -> int:
        """Like :meth:`broadcast`, skipping ``from_pid`` (S32)."""
        self.adapter.publish(topic, message, from_pid)
        return self.local_broadcast(topic, message, from_pid=from_pid)

    def local_broadcast(self, topic: str, message: Any, *, from_pid: Pid[Any] | None = None) -> int:
        """Deliver to this node's subscribers only."""
        entries = self.node.registry.entries(self._key(topic))
        if not entries:
            return 0
        self.broadcasts_total += 1
        cache: dict[Any, Any] = {}
        # A snapshot: a delivery may close a slow socket and unsubscribe it.
        fastlanes = list(entries.values())
        kinds = set(map(type, fastlanes))
        if len(kinds) == 1:
            deliver_all = getattr(kinds.pop(), "deliver_all", None)
            if deliver_all is not None:
                skip = entries.get(from_pid) if from_pid is not None else None
                delivered = deliver_all(message, fastlanes, cache, skip)
                self.deliveries_total += delivered
                return delivered
        delivered = 0
        # Two flat lists, not a list of (pid, fastlane) tuples: at thousands
        # of subscribers per broadcast the tuples cost more than the loop.
        pids = list(entries)
        for pid, fastlane in zip(pids, fastlanes, strict=True):
            if from_pid is not None and pid == from_pid:
                continue
            try:
                if fastlane is None:
                    pid.send(message)
                else:
                    fastlane.deliver(message, cache)
            except Exception:
                _log.exception("pubsub delivery to %s failed", pid)
                continue
            delivered += 1
        self.deliveries_total += delivered
        return delivered
