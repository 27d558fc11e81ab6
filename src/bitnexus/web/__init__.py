"""The web layer: the aiohttp endpoint, router, plugs and API handlers."""

from __future__ import annotations

__all__: list[str] = []
