#!/usr/bin/env python
"""The Python floor for ``bench_channels.py``: a bare aiohttp + uvloop Phoenix V2 echo.

Serves ``/demo/socket/websocket`` with just enough of the V2 protocol for the
benchmark, and nothing else: no actors, no supervision, no per-channel state
beyond a set of transports per topic.

- ``phx_join`` adds the socket to the topic and replies ok ``{}``;
- ``ping`` replies ok with its payload;
- ``shout`` encodes ``[null, null, topic, "shout", payload]`` once and writes
  the same frame bytes to every member's transport (sender included);
- ``heartbeat`` replies ok; ``phx_leave`` replies ok and leaves.

Replies and broadcasts are written straight to the asyncio transport as
ready-made WebSocket frames, which is also what BitNexus does, so the
difference between the two is the cost of the runtime, not of the framing.

Usage::

    python scripts/bench_channels_floor.py --port 4100 [--reuse-port]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from typing import Any

import orjson
from aiohttp import WSMsgType, web

__all__ = ["build_app", "main"]

_dumps = orjson.dumps
_loads = orjson.loads


def _frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def _reply(join_ref: Any, ref: Any, topic: str, status: str, response: Any) -> bytes:
    body = {"status": status, "response": response}
    return _frame(_dumps([join_ref, ref, topic, "phx_reply", body]))


def build_app() -> web.Application:
    """The floor application: ``/demo/socket/websocket`` and ``/healthz``.

    Example::

        web.run_app(build_app(), host="127.0.0.1", port=4100)
    """
    rooms: dict[str, set[asyncio.Transport]] = defaultdict(set)

    async def websocket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        transport: Any = request.transport
        topics: set[str] = set()
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                join_ref, ref, topic, event, payload = _loads(msg.data)
                if event == "ping" or event == "heartbeat":
                    transport.write(_reply(join_ref, ref, topic, "ok", payload))
                elif event == "shout":
                    frame = _frame(_dumps([None, None, topic, "shout", payload]))
                    for member in rooms[topic]:
                        if not member.is_closing():
                            member.write(frame)
                elif event == "phx_join":
                    rooms[topic].add(transport)
                    topics.add(topic)
                    transport.write(_reply(join_ref, ref, topic, "ok", {}))
                elif event == "phx_leave":
                    rooms[topic].discard(transport)
                    topics.discard(topic)
                    transport.write(_reply(join_ref, ref, topic, "ok", {}))
                else:
                    transport.write(_reply(join_ref, ref, topic, "error", {"reason": event}))
        finally:
            for topic in topics:
                rooms[topic].discard(transport)
        return ws

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/demo/socket/websocket", websocket)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the floor until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT")
    args = parser.parse_args(argv)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(
        build_app(),
        host=args.host,
        port=args.port,
        reuse_port=args.reuse_port or None,
        print=None,
        access_log=None,
        loop=loop,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
