"""The demo socket, for trying BitNexus and measuring it (``[demo] enabled``).

Mounted at ``/demo/socket`` (websocket and longpoll); accepts any connect.
Channel ``room:*``:

- join replies ok ``{}``; with a join param ``name`` it tracks presence
  under that name, then pushes ``presence_state``. A join without ``name``
  does no presence work at all (the benchmark joins that way, as Phoenix's
  reference figures were measured);
- ``ping`` replies ok with the payload it received (binary too);
- ``shout`` broadcasts ``shout`` with the same payload to every member,
  sender included;
- ``boom`` raises, so anyone can watch a crash, ``phx_error`` and the rejoin;
- ``disconnect`` disconnects every connection of this socket id (connect with
  ``user_id``), to watch the client reconnect.

Example (browser console, with the phoenix client)::

    const socket = new Socket("/demo/socket", {params: {user_id: "1"}})
    socket.connect()
    const room = socket.channel("room:lobby", {name: "ada"})
    room.join().receive("ok", () => room.push("ping", {hi: 1}))
"""

from __future__ import annotations

import time
from typing import Any

from bitnexus.channels import Channel, ChannelSocket, NoReply, Ok, Reply, Socket, SocketState

__all__ = ["DemoRoomChannel", "DemoSocket"]


class DemoRoomChannel(Channel):
    """``room:*`` of the demo socket."""

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        name = payload.get("name") if isinstance(payload, dict) else None
        if name is not None:
            socket.assigns["name"] = str(name)
            self.pid.send("after_join")
        return Ok({})

    async def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        if message == "after_join":
            presence = socket.hub.presence if socket.hub is not None else None
            if presence is not None:
                await presence.track(
                    self.pid,
                    socket.topic,
                    socket.assigns["name"],
                    {"online_at": str(int(time.time()))},
                )
                socket.push("presence_state", presence.list(socket.topic))
        return None

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "ping":
            return Reply("ok", payload)
        if event == "shout":
            socket.broadcast("shout", payload)
            return NoReply()
        if event == "boom":
            raise RuntimeError("boom (the demo channel crashes on purpose)")
        if event == "disconnect" and socket.socket_id is not None:
            socket.hub.disconnect(socket.socket_id)
            return NoReply()
        return Reply("error", {"reason": f"unknown event {event!r}"})


class DemoSocket(Socket):
    """Accepts every connection; ``user_id`` gives it an id for disconnects."""

    channels = [("room:*", DemoRoomChannel)]

    async def connect(self, params: dict[str, Any], connect_info: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": params.get("user_id")}

    def id(self, socket: SocketState) -> str | None:
        user_id = socket.assigns.get("user_id")
        return f"demo_socket:{user_id}" if user_id else None
