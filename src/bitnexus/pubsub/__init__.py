"""Publish/subscribe between processes, on one node or many.

Example::

    from bitnexus.pubsub import PubSub
    pubsub = PubSub(node)
    pubsub.subscribe(pid, "room:1")
    pubsub.broadcast("room:1", "hello")
"""

from bitnexus.pubsub.adapter import Adapter, LocalAdapter
from bitnexus.pubsub.core import Fastlane, PubSub
from bitnexus.pubsub.redis_adapter import RedisAdapter
from bitnexus.pubsub.server import PubSubServer

__all__ = ["Adapter", "Fastlane", "LocalAdapter", "PubSub", "PubSubServer", "RedisAdapter"]
