"""Every ``web.AppKey`` BitNexus stores on its aiohttp application, in one place.

Typed keys instead of string keys: ``app[SETTINGS_KEY]`` is a :class:`Settings`
to the type checker, and two components cannot collide on a name.

Example::

    settings = request.app[SETTINGS_KEY]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bitnexus.config import Settings

if TYPE_CHECKING:
    # Typing only: bitnexus.platform imports this module.
    from bitnexus.platform import Platform

__all__ = ["APPLICATION_KEY", "HUB_KEY", "NODE_KEY", "PLATFORM_KEY", "SETTINGS_KEY"]

SETTINGS_KEY = web.AppKey("settings", Settings)
"""The frozen settings the application was built with."""

# Runtime objects: set by bitnexus.server.build_server.
from bitnexus.actors import Node  # noqa: E402
from bitnexus.channels.hub import Hub  # noqa: E402
from bitnexus.supervision import Application  # noqa: E402

NODE_KEY = web.AppKey("node", Node)
"""The node every process of this server runs on."""
HUB_KEY = web.AppKey("hub", Hub)
"""PubSub, presence and the channel supervisors shared by socket mounts."""
APPLICATION_KEY = web.AppKey("application", Application)
"""The root supervision tree."""

# The platform: set by bitnexus.platform.attach_platform.
PLATFORM_KEY: web.AppKey[Platform] = web.AppKey("platform")
"""Database, tokens, password hashers, service pools and rate limiters."""
