"""PubSub adapters: how broadcasts reach *other* nodes.

The core (:class:`~bitnexus.pubsub.PubSub`) always delivers locally itself;
an adapter only publishes outward and relays what other nodes publish
(STYLE habit 17, like ``Phoenix.PubSub.Adapter``). A single node uses
:class:`LocalAdapter`, which does nothing. A Redis adapter implements the same
three methods: ``start`` (connect and start relaying inbound messages with
``pubsub.local_broadcast``), ``publish`` (never waits; queue and send), and
``stop``.

Example::

    class LoggingAdapter(Adapter):
        def publish(self, topic, message, from_pid):
            print("would send", topic, message)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitnexus.actors import Pid
    from bitnexus.pubsub.core import PubSub

__all__ = ["Adapter", "LocalAdapter"]


class Adapter(ABC):
    """Carries broadcasts between nodes. Local delivery is never its job."""

    name: str = "adapter"

    async def start(self, pubsub: PubSub) -> None:
        """Connect; from now on relay inbound messages with ``pubsub.local_broadcast``."""
        return None

    async def stop(self) -> None:
        """Disconnect; publishes after this are dropped."""
        return None

    @abstractmethod
    def publish(self, topic: str, message: Any, from_pid: Pid[Any] | None) -> None:
        """Send ``message`` to the other nodes' subscribers of ``topic``. Never waits."""


class LocalAdapter(Adapter):
    """The single-node adapter: there are no other nodes to tell."""

    name = "local"

    def publish(self, topic: str, message: Any, from_pid: Pid[Any] | None) -> None:
        return None
