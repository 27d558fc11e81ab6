"""Phoenix Channels for BitNexus: sockets, channels, transports, presence.

The official ``phoenix`` JavaScript client works against these unchanged.

Example::

    from bitnexus.channels import Channel, Ok, Reply, Socket

    class RoomChannel(Channel):
        async def join(self, topic, payload, socket):
            return Ok()

        async def handle_in(self, event, payload, socket):
            return Reply("ok", payload)

    class UserSocket(Socket):
        channels = [("room:*", RoomChannel)]
"""

from bitnexus.channels.channel import (
    Channel,
    ChannelSocket,
    Error,
    NoReply,
    Ok,
    Reply,
    ReplyRef,
    Stop,
)
from bitnexus.channels.handshake import MountOptions
from bitnexus.channels.hub import Hub
from bitnexus.channels.mount import mount_socket
from bitnexus.channels.socket import Refuse, Socket, SocketState

__all__ = [
    "Channel",
    "ChannelSocket",
    "Error",
    "Hub",
    "MountOptions",
    "NoReply",
    "Ok",
    "Refuse",
    "Reply",
    "ReplyRef",
    "Socket",
    "SocketState",
    "Stop",
    "mount_socket",
]
