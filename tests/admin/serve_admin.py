"""Serve the admin test app on a port (for the ``bitnexus tree`` test).

Usage: python tests/admin/serve_admin.py PORT
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from aiohttp import web
from support import build_test_app, test_settings

from bitnexus.actors import Node
from bitnexus.web.endpoint import add_component, run


def main(port: int) -> None:
    settings = test_settings(**{"server.port": port})
    node = Node()
    app, application = build_test_app(settings, node)

    async def tree(_app: web.Application) -> AsyncIterator[None]:
        await application.start()
        yield
        await application.stop()

    add_component(app, tree)
    run(settings, app)


if __name__ == "__main__":
    main(int(sys.argv[1]))
