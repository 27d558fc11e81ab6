"""The supervised process that owns a PubSub's adapter (its connections to
other nodes). Local dispatch never goes through it.

Example::

    pubsub = PubSub(node, adapter=RedisAdapter(url))
    children = [ChildSpec.for_actor(PubSubServer, pubsub, id="pubsub")]
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from bitnexus.actors import Actor
from bitnexus.pubsub.core import PubSub

__all__ = ["PubSubServer"]


class PubSubServer(Actor):
    """Starts the adapter in ``init`` and stops it in ``terminate``."""

    kind: ClassVar[str] = "service"

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub

    async def init(self) -> Any:
        self.trap_exit = True  # so terminate runs and the adapter disconnects cleanly
        await self.pubsub.adapter.start(self.pubsub)
        return None

    async def terminate(self, reason: Any) -> None:
        await self.pubsub.adapter.stop()

    def summary(self) -> Any:
        adapter = self.pubsub.adapter
        info: dict[str, Any] = {
            "adapter": adapter.name,
            "broadcasts": self.pubsub.broadcasts_total,
            "deliveries": self.pubsub.deliveries_total,
        }
        stats = getattr(adapter, "statistics", None)
        if stats is not None:
            info["adapter_statistics"] = dataclasses.asdict(stats())
        return info
