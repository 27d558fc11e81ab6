"""The operators' admin endpoint: live supervision tree, process detail,
kill/exit/restart actions, the observer page, ``/metrics`` and ``bitnexus tree``.

Example::

    from bitnexus.admin import install_admin

    children += install_admin(app, node, pubsub, settings)
"""

from __future__ import annotations

from typing import Any

__all__ = ["install_admin"]


def __getattr__(name: str) -> Any:
    # Lazy: `bitnexus tree` imports bitnexus.admin.tree_cli and must not load aiohttp.
    if name == "install_admin":
        from bitnexus.admin.api import install_admin

        return install_admin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
