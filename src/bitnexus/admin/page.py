"""``GET /admin``: the observer page (one static HTML file, vanilla JS, no build step).

It is served with a Content-Security-Policy that allows only its own inline
script and style (by hash) and requests to this origin, so nothing a process
reports (topics, names, messages) can run as script in an operator's browser.

Example::

    app.router.add_get("/admin", ObserverPage())
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web

__all__ = ["PAGE_PATH", "ObserverPage"]

PAGE_PATH = Path(__file__).parent / "static" / "admin.html"


class ObserverPage:
    """``GET /admin``: the observer page, with a CSP that allows only its own
    inline script and style (by hash) and requests to this origin."""

    def __init__(self) -> None:
        self._body: bytes | None = None
        self._csp = ""

    def _load(self) -> bytes:
        if self._body is None:
            html = PAGE_PATH.read_text(encoding="utf-8")
            hashes = {
                tag: " ".join(
                    f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
                    for m in re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
                )
                for tag in ("script", "style")
            }
            self._csp = (
                "default-src 'none'; connect-src 'self'; img-src 'self' data:; "
                f"script-src {hashes['script']}; style-src {hashes['style']}; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            )
            self._body = html.encode()
        return self._body

    async def __call__(self, request: web.Request) -> web.Response:
        body = self._load()
        return web.Response(
            body=body,
            content_type="text/html",
            charset="utf-8",
            headers={
                "content-security-policy": self._csp,
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
                "cache-control": "no-store",
            },
        )
