"""The :class:`Socket` behaviour: authenticating a connection and routing
topics to channels.

Example::

    class UserSocket(Socket):
        channels = [("room:*", RoomChannel), ("notification:*", NotificationChannel)]

        async def connect(self, params, connect_info):
            user = verify(params.get("token") or connect_info.get("auth_token"))
            if user is None:
                return Refuse()                      # HTTP 403
            return {"user_id": user.id}              # the socket's assigns

        def id(self, socket):
            return f"users_socket:{socket.assigns['user_id']}"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bitnexus.exceptions import Misuse

if TYPE_CHECKING:
    from bitnexus.channels.channel import Channel

__all__ = ["Refuse", "Socket", "SocketState", "match_topic"]


@dataclass(frozen=True, slots=True)
class Refuse:
    """``connect`` refused: answered with HTTP ``status`` before any upgrade
    (long poll answers ``{"status": 403}``)."""

    status: int = 403
    reason: str = "refused"


@dataclass(slots=True)
class SocketState:
    """What ``id`` sees: the assigns ``connect`` returned, and the transport."""

    assigns: dict[str, Any]
    transport: str
    connect_info: Mapping[str, Any]


def match_topic(
    table: list[tuple[str, type[Channel]]] | tuple[tuple[str, type[Channel]], ...], topic: str
) -> type[Channel] | None:
    """The first channel whose pattern matches ``topic`` (S14): exact, or a
    prefix ending in a single trailing ``*``."""
    for pattern, channel in table:
        if pattern.endswith("*"):
            if topic.startswith(pattern[:-1]):
                return channel
        elif pattern == topic:
            return channel
    return None


class Socket:
    """Behaviour for a socket mount. Subclass it and set ``channels``.

    Class attributes:
        channels: ``[(pattern, ChannelClass), ...]``; first match wins.
    """

    channels: ClassVar[list[tuple[str, type[Channel]]] | tuple[tuple[str, type[Channel]], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for entry in cls.channels:
            pattern = entry[0]
            if not isinstance(pattern, str) or "*" in pattern[:-1]:
                raise Misuse(f"{cls.__name__}: topic pattern {pattern!r} may only end in one '*'")

    async def connect(
        self, params: dict[str, Any], connect_info: Mapping[str, Any]
    ) -> dict[str, Any] | Refuse:
        """Accept with the socket's assigns (a dict), or return :class:`Refuse`."""
        return {}

    def id(self, socket: SocketState) -> str | None:
        """A topic naming this connection, so ``disconnect`` can reach it (S44)."""
        return None

    def channel_for(self, topic: str) -> type[Channel] | None:
        """The channel class for ``topic``, or None (unmatched topic)."""
        return match_topic(self.channels, topic)
