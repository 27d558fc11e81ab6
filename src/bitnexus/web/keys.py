"""Every ``web.AppKey`` BitNexus stores on its aiohttp application, in one place.

Typed keys instead of string keys: ``app[SETTINGS_KEY]`` is a :class:`Settings`
to the type checker, and two components cannot collide on a name.

Example::

    settings = request.app[SETTINGS_KEY]
"""

from __future__ import annotations

from aiohttp import web

from bitnexus.config import Settings

__all__ = ["SETTINGS_KEY"]

SETTINGS_KEY = web.AppKey("settings", Settings)
"""The frozen settings the application was built with."""
