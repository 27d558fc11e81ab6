"""The platform's Phoenix socket: live transaction updates and notifications.

Mounted at ``/socket`` by :func:`bitnexus.platform.attach_platform`. A client
connects with the same JWT access token as the HTTP API, either as the
``token`` param or as the Phoenix JS client's ``authToken`` (the
``Sec-WebSocket-Protocol`` entry, or the long-poll header). A missing,
invalid or expired token is refused with HTTP 403 before any upgrade.

Topics:

- ``transaction:<id>``: status changes of one transaction (event
  ``"status"``). Only its owner, the affiliate who referred the owner, and
  admins may join; the join reply carries the transaction as it stands, so
  nothing between an HTTP read and the join is missed. Anyone else, and any
  id that does not exist, gets ``{"reason": "unauthorized"}``: a refusal
  never tells whether a transaction exists.
- ``notification:<user id>``: the user's own notifications (events
  ``"transaction"`` and, for affiliates, ``"commission"``). Only that user,
  whatever their role: notifications are personal.

Each connection's id is ``users_socket:<user id>``; logging out (or a role
change) closes all of that user's sockets.

Example (browser, phoenix client)::

    const socket = new Socket("/socket", {authToken: accessToken})
    socket.connect()
    socket.channel(`notification:${me.id}`).join()
      .receive("ok", () => console.log("listening"))
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from bitnexus.auth.roles import Principal, Role, can_view_notifications
from bitnexus.auth.tokens import TokenError
from bitnexus.channels import Channel, ChannelSocket, Error, Ok, Refuse, Reply, Socket, SocketState
from bitnexus.exceptions import Refused
from bitnexus.repo import NotFound
from bitnexus.services.transactions import transaction_payload

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["NotificationChannel", "TransactionChannel", "UserSocket", "socket_id_for"]

_log = logging.getLogger("bitnexus.web.user_socket")
# A bigint id, written plainly: no sign, no leading zeros, no spaces.
_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_UNAUTHORIZED = {"reason": "unauthorized"}


def socket_id_for(user_id: int | str) -> str:
    """The socket id of a user's connections, for ``hub.disconnect``.

    Example::

        hub.disconnect(socket_id_for(7))      # closes every socket of user 7
    """
    return f"users_socket:{user_id}"


def _topic_id(topic: str) -> int | None:
    _, _, raw = topic.partition(":")
    if not _ID.match(raw):
        return None
    value = int(raw)
    return value if value < 2**63 else None


def _principal(socket: ChannelSocket) -> Principal:
    return Principal(socket.assigns["user_id"], Role(socket.assigns["role"]))


class _ServerPushOnly(Channel):
    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        # These topics only flow from the server; say so instead of crashing.
        return Reply("error", {"reason": f"unknown event {event[:64]!r}"})


class TransactionChannel(_ServerPushOnly):
    """``transaction:<id>``: the transaction's ``"status"`` broadcasts."""

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        tx_id = _topic_id(topic)
        if tx_id is None:
            return Error(_UNAUTHORIZED)
        me = _principal(socket)
        transactions = socket.handler.platform.transactions
        try:
            allowed = await transactions.call(
                "can_view", user_id=me.user_id, role=me.role.value, transaction_id=tx_id
            )
            if not allowed:
                return Error(_UNAUTHORIZED)
            tx, _history = await transactions.call("get_transaction", transaction_id=tx_id)
        except NotFound:
            return Error(_UNAUTHORIZED)
        except Refused as exc:
            _log.warning("join of %s failed: %s", topic, exc)
            return Error({"reason": "unavailable"})
        return Ok({"transaction": transaction_payload(tx)})


class NotificationChannel(_ServerPushOnly):
    """``notification:<user id>``: that user's ``"transaction"`` and ``"commission"`` pushes."""

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        user_id = _topic_id(topic)
        if user_id is None or not can_view_notifications(_principal(socket), user_id):
            return Error(_UNAUTHORIZED)
        return Ok({})


class UserSocket(Socket):
    """Authenticates connections with the platform's access tokens.

    Args:
        platform: gives the token verifier and the transactions service.

    Assigns: ``user_id`` (int) and ``role`` (``"admin"``, ``"user"`` or
    ``"affiliate"``), from the token.
    """

    channels = [
        ("transaction:*", TransactionChannel),
        ("notification:*", NotificationChannel),
    ]

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def connect(
        self, params: dict[str, Any], connect_info: dict[str, Any]
    ) -> dict[str, Any] | Refuse:
        """Accept a valid access token from ``params["token"]`` or the ``authToken``."""
        token = params.get("token")
        if not isinstance(token, str) or not token:
            token = connect_info.get("auth_token")
        try:
            claims = self.platform.tokens.verify_access(token)
            user_id = int(claims.subject)
        except TokenError as exc:
            _log.info("socket connect refused: token %s", exc.reason)
            return Refuse(403, f"token {exc.reason}")
        except ValueError:
            _log.warning("socket connect refused: token subject is not a user id")
            return Refuse(403, "token invalid")
        return {"user_id": user_id, "role": claims.role.value}

    def id(self, socket: SocketState) -> str | None:
        """``users_socket:<user id>``."""
        return socket_id_for(socket.assigns["user_id"])
