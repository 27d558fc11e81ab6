"""The connection process: heartbeats, routing, joins (serialised, limited,
duplicated), leaves, channel exits and forced closes (reference section 2),
driven through the in-memory test transport."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bitnexus.channels import Channel, ChannelSocket, Ok, Reply, Socket, SocketState
from bitnexus.channels.protocol import V1JSONSerializer
from bitnexus.channels.testing import ChannelCase, TestSocket, channel_test


class RoomChannel(Channel):
    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        if payload.get("slow"):
            await asyncio.sleep(payload["slow"])
        return Ok({})

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "raise":
            raise RuntimeError("crashed on purpose")
        if event == "bytes":
            return Reply("ok", bytes(payload) + b"!")
        return Reply("ok", {"event": event, "payload": payload})

    async def terminate(self, reason: Any, socket: ChannelSocket) -> None:
        socket.handler.terminated.append((socket.topic, socket.join_ref, reason))


class AppSocket(Socket):
    channels = [("room:*", RoomChannel), ("phoenix_like:exact", RoomChannel)]

    def __init__(self) -> None:
        self.terminated: list[Any] = []

    async def connect(self, params: dict[str, Any], connect_info: dict[str, Any]) -> Any:
        return {"user_id": params.get("user_id")}

    def id(self, socket: SocketState) -> str | None:
        user_id = socket.assigns.get("user_id")
        return f"user_socket:{user_id}" if user_id else None


def channel_processes(ct: ChannelCase) -> int:
    return sum(1 for info in ct.node.processes() if info.kind == "channel")


def index(socket: TestSocket, predicate: Any) -> int:
    return next(i for i, frame in enumerate(socket.frames) if predicate(frame))


@pytest.fixture
async def ct() -> AsyncIterator[ChannelCase]:
    async with channel_test() as case:
        yield case


@pytest.fixture
async def socket(ct: ChannelCase) -> TestSocket:
    return await ct.connect(AppSocket, {"user_id": "42"})


# --- heartbeat and unmatched topics (S5, S13, S24) ------------------------------


async def test_heartbeat_is_answered_ok_with_a_null_join_ref(ct, socket):
    ref = ct.push(socket, "phoenix", "heartbeat", {})
    reply = await ct.assert_reply(ref, "ok", {})
    assert (reply.topic, reply.join_ref) == ("phoenix", None)


async def test_heartbeat_is_answered_even_after_a_channel_crashed(ct, socket):
    await ct.join(socket, "room:1")
    ct.push(socket, "room:1", "raise")
    await ct.assert_push("phx_error", topic="room:1")
    ref = ct.push(socket, "phoenix", "heartbeat", {})
    await ct.assert_reply(ref, "ok", {})


async def test_other_events_on_the_phoenix_topic_are_an_unmatched_topic(ct, socket):
    ref = ct.push(socket, "phoenix", "hello", {})
    await ct.assert_reply(ref, "error", {"reason": "unmatched topic"})


async def test_joining_a_topic_without_a_route_is_refused_and_starts_no_process(ct, socket, caplog):
    before = channel_processes(ct)
    with caplog.at_level(logging.WARNING, logger="bitnexus.channels"):
        reply = await ct.join(socket, "lobby:1")
    assert (reply.status, reply.response, reply.join_ref) == (
        "error",
        {"reason": "unmatched topic"},
        None,
    )
    assert channel_processes(ct) == before
    assert any("lobby:1" in record.getMessage() for record in caplog.records)


async def test_routes_match_exact_topics_and_trailing_wildcards_only(ct, socket):
    assert (await ct.join(socket, "phoenix_like:exact")).status == "ok"
    assert (await ct.join(socket, "phoenix_like:exactly")).status == "error"
    assert (await ct.join(socket, "room:")).status == "ok"


async def test_a_message_on_a_topic_never_joined_gets_unmatched_topic_every_time(ct, socket):
    for _ in range(3):
        ref = ct.push(socket, "room:9", "hello", {})
        reply = await ct.assert_reply(ref, "error", {"reason": "unmatched topic"})
        assert reply.join_ref is None


# --- joins (S19, S20, S22, S23) ------------------------------------------------------


async def test_join_is_serialised_so_a_message_right_after_it_reaches_the_channel(ct, socket):
    join_ref = ct.push(socket, "room:1", "phx_join", {"slow": 0.05}, join_ref="j1")
    ref = ct.push(socket, "room:1", "hello", {}, join_ref="j1")
    await ct.assert_reply(ref, "ok", {"event": "hello", "payload": {}})
    join = index(socket, lambda f: f.ref == join_ref)
    assert join < index(socket, lambda f: f.ref == ref)


async def test_the_join_over_the_channel_limit_is_refused_and_the_others_keep_working(ct):
    socket = await ct.connect(AppSocket, max_channels=1)
    assert (await ct.join(socket, "room:1")).status == "ok"
    reply = await ct.join(socket, "room:2")
    assert (reply.status, reply.response) == ("error", {"reason": "too many channels joined"})
    assert set(socket.channel_pids()) == {"room:1"}
    ref = ct.push(socket, "room:1", "hello")
    await ct.assert_reply(ref, "ok")


async def test_a_channel_in_the_middle_of_leaving_still_counts_towards_the_limit(ct):
    socket = await ct.connect(AppSocket, max_channels=1)
    await ct.join(socket, "room:1")
    ct.push(socket, "room:1", "phx_leave", {})
    reply = await ct.join(socket, "room:2")
    assert (reply.status, reply.response) == ("error", {"reason": "too many channels joined"})


async def test_a_join_slower_than_the_join_timeout_is_answered_as_a_crash(ct):
    socket = await ct.connect(AppSocket, join_timeout=0.05)
    reply = await ct.join(socket, "room:1", {"slow": 1.0})
    assert (reply.status, reply.response) == ("error", {"reason": "join crashed"})
    assert socket.channel_pid("room:1") is None


async def test_a_duplicate_join_kills_the_old_channel_without_terminate(ct, socket):
    first = await ct.join(socket, "room:1")
    old = socket.channel_pid("room:1")
    second = await ct.join(socket, "room:1")
    assert second.status == "ok" and second.ref != first.ref
    assert await ct.exit_reason(old) == ("shutdown", "duplicate_join")
    assert socket.handler.terminated == []
    assert socket.channel_pid("room:1") not in (None, old)


async def test_a_duplicate_join_replies_first_then_closes_the_old_join_ref(ct, socket):
    first = await ct.join(socket, "room:1")
    second = await ct.join(socket, "room:1")
    close = await ct.assert_push("phx_close", {}, topic="room:1")
    assert close.ref == close.join_ref == first.ref
    assert index(socket, lambda f: f.ref == second.ref) < index(socket, lambda f: f is close)
    ref = ct.push(socket, "room:1", "hello")
    reply = await ct.assert_reply(ref, "ok")
    assert reply.join_ref == second.ref


# --- messages and leaves (S26, S35-S38) ------------------------------------------------


async def test_a_message_with_a_stale_join_ref_is_dropped_silently(ct, socket):
    await ct.join(socket, "room:1")
    stale = ct.push(socket, "room:1", "hello", {}, join_ref="stale")
    fresh = ct.push(socket, "room:1", "hello", {})
    await ct.assert_reply(fresh, "ok")
    await ct.refute_reply(stale)


async def test_a_message_with_a_null_join_ref_reaches_the_channel(ct, socket):
    await ct.join(socket, "room:1")
    ref = ct.push(socket, "room:1", "hello", {}, join_ref=None)
    await ct.assert_reply(ref, "ok")


async def test_leave_replies_ok_then_sends_phx_close_and_terminates_with_shutdown_left(ct, socket):
    join = await ct.join(socket, "room:1")
    pid = socket.channel_pid("room:1")
    reply = await ct.leave(socket, "room:1")
    assert (reply.status, reply.response, reply.join_ref) == ("ok", {}, join.ref)
    close = await ct.assert_push("phx_close", {}, topic="room:1")
    assert close.ref == join.ref
    assert await ct.exit_reason(pid) == ("shutdown", "left")
    assert socket.handler.terminated == [("room:1", join.ref, ("shutdown", "left"))]


async def test_a_leave_with_a_stale_join_ref_is_ignored(ct, socket):
    await ct.join(socket, "room:1")
    pid = socket.channel_pid("room:1")
    leave = ct.push(socket, "room:1", "phx_leave", {}, join_ref="stale")
    ref = ct.push(socket, "room:1", "hello")
    await ct.assert_reply(ref, "ok")
    await ct.refute_reply(leave)
    assert socket.channel_pid("room:1") == pid


async def test_leaving_a_topic_never_joined_replies_ok_echoing_the_refs(ct, socket):
    ref = ct.push(socket, "room:1", "phx_leave", {}, join_ref="5")
    reply = await ct.assert_reply(ref, "ok", {})
    assert reply.join_ref == "5"
    await ct.refute_push("phx_close")


async def test_after_a_leave_the_topic_is_unmatched_and_can_be_joined_again(ct, socket):
    first = await ct.join(socket, "room:1")
    await ct.leave(socket, "room:1")
    ref = ct.push(socket, "room:1", "hello", {}, join_ref=first.ref)
    await ct.assert_reply(ref, "error", {"reason": "unmatched topic"})
    again = await ct.join(socket, "room:1")
    assert again.status == "ok" and again.ref != first.ref
    ref = ct.push(socket, "room:1", "hello")
    assert (await ct.assert_reply(ref, "ok")).join_ref == again.ref


# --- channel exits, transport close, disconnect (S40, S41, S44, S48) -----------------------


async def test_a_crash_sends_phx_error_for_that_topic_only(ct, socket):
    crashed = await ct.join(socket, "room:1")
    await ct.join(socket, "room:2")
    ct.push(socket, "room:1", "raise")
    error = await ct.assert_push("phx_error", {"reason": "channel_crash"}, topic="room:1")
    assert error.ref == error.join_ref == crashed.ref
    ref = ct.push(socket, "room:2", "hello")
    await ct.assert_reply(ref, "ok")
    await ct.refute_push("phx_error", topic="room:2")
    assert socket.connection.alive and not socket.transport.closed


async def test_after_a_crash_the_topic_is_free_for_a_rejoin(ct, socket):
    await ct.join(socket, "room:1")
    ct.push(socket, "room:1", "raise")
    await ct.assert_push("phx_error", topic="room:1")
    ref = ct.push(socket, "room:1", "hello")
    await ct.assert_reply(ref, "error", {"reason": "unmatched topic"})
    assert (await ct.join(socket, "room:1")).status == "ok"


async def test_closing_the_transport_stops_the_connection_and_terminates_channels(ct, socket):
    join = await ct.join(socket, "room:1")
    assert await ct.close(socket) == "normal"
    assert socket.handler.terminated == [("room:1", join.ref, ("shutdown", "closed"))]
    assert socket.channel_pids() == {}


async def test_disconnect_by_socket_id_closes_with_1001_and_stops_channels(ct, socket):
    join = await ct.join(socket, "room:1")
    pid = socket.channel_pid("room:1")
    assert ct.hub.disconnect("user_socket:42") == 1
    assert await ct.exit_reason(socket.connection) == ("shutdown", "disconnected")
    assert socket.transport.close_code == 1001
    assert await ct.exit_reason(pid) == ("shutdown", "disconnected")
    assert socket.handler.terminated == [("room:1", join.ref, ("shutdown", "disconnected"))]


async def test_other_events_on_the_socket_id_topic_are_ignored(ct, socket):
    ct.hub.broadcast("user_socket:42", "something_else", {})
    ref = ct.push(socket, "phoenix", "heartbeat", {})
    await ct.assert_reply(ref, "ok")
    assert not socket.transport.closed


async def test_drain_closes_the_transport_with_1012(ct, socket):
    await ct.join(socket, "room:1")
    socket.connection.cast("drain")
    assert await ct.exit_reason(socket.connection) == ("shutdown", "drain")
    assert socket.transport.close_code == 1012


# --- serializers -----------------------------------------------------------------------


async def test_a_v1_client_gets_object_frames_without_join_refs(ct):
    socket = await ct.connect(AppSocket, serializer=V1JSONSerializer)
    join = await ct.join(socket, "room:1", {})
    assert join.status == "ok" and join.join_ref is None
    ref = ct.push(socket, "room:1", "hello", {"a": 1})
    await ct.assert_reply(ref, "ok", {"event": "hello", "payload": {"a": 1}})
    assert socket.transport.raw[0][1].startswith("{")


async def test_binary_pushes_reach_the_channel_as_bytes_and_binary_replies_come_back(ct, socket):
    join = await ct.join(socket, "room:1")
    ref = ct.push(socket, "room:1", "bytes", b"\x01\x02")
    reply = await ct.assert_reply(ref, "ok", b"\x01\x02!")
    assert (reply.opcode, reply.join_ref) == ("binary", join.ref)
