"""The channel test helpers themselves: connect, join, the in-memory transport,
the assertions and their failure messages, and teardown."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest

import bitnexus.channels.testing as testing
from bitnexus.actors import Node
from bitnexus.actors.testing import Probe
from bitnexus.channels import Channel, ChannelSocket, Error, Ok, Refuse, Reply, Socket, SocketState
from bitnexus.channels.presence import Presence
from bitnexus.channels.protocol import (
    Broadcast,
    Push,
    V1JSONSerializer,
    V2JSONSerializer,
    phx_close,
    phx_error,
)
from bitnexus.channels.protocol import Reply as ReplyFrame
from bitnexus.channels.testing import (
    ANY,
    ChannelCase,
    ConnectRefused,
    JoinRefused,
    TestTransport,
    channel_test,
    decode_server_frame,
)
from bitnexus.exceptions import BadCallbackResult, Misuse, ProtocolError


class EchoChannel(Channel):
    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        if payload.get("refuse"):
            return Error({"reason": "nope"})
        self.pid.send("after_join")
        return Ok({"transport": socket.transport, "handler": type(socket.handler).__name__})

    async def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        socket.push("welcome", {"n": 1})

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "twice":
            socket.push("same", {})
            socket.push("same", {})
            return None
        return Reply("ok", payload)


class OtherChannel(Channel):
    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        return Ok({"channel": "other"})


class EchoSocket(Socket):
    channels = [("echo:*", EchoChannel)]

    async def connect(self, params: dict[str, Any], connect_info: dict[str, Any]) -> Any:
        if params.get("deny"):
            return Refuse(429, "rate_limit")
        if params.get("bad"):
            return ["not", "a", "dict"]
        if params.get("crash"):
            raise RuntimeError("connect crashed")
        return {"user": params.get("user"), "peer": connect_info["peer_data"]["address"]}

    def id(self, socket: SocketState) -> Any:
        user = socket.assigns.get("user")
        if user == "weird":
            return 42
        return f"user:{user}" if user else None


@pytest.fixture
async def ct() -> AsyncIterator[ChannelCase]:
    async with channel_test() as case:
        yield case


# --- the module's own example ------------------------------------------------------


async def test_the_module_docstring_example_runs_and_passes():
    doc = testing.__doc__
    assert doc is not None
    code = textwrap.dedent(doc.split("Example::")[1].split("As a pytest fixture::")[0])
    namespace: dict[str, Any] = {}
    exec(compile(code, "testing-docstring", "exec"), namespace)
    await namespace["test_room_channel"]()


# --- connect --------------------------------------------------------------------------


async def test_connect_runs_connect_and_id_and_returns_the_assigns(ct):
    socket = await ct.connect(EchoSocket, {"user": "ada"})
    assert socket.assigns == {"user": "ada", "peer": "127.0.0.1"}
    assert socket.socket_id == "user:ada"
    assert socket.connection.alive
    assert isinstance(socket.handler, EchoSocket)


async def test_connect_passes_the_given_connect_info(ct):
    info = {**testing.default_connect_info(), "peer_data": {"address": "10.0.0.9"}}
    socket = await ct.connect(EchoSocket, {}, info)
    assert socket.assigns["peer"] == "10.0.0.9"
    assert socket.connect_info is info


async def test_connect_uses_a_socket_instance_as_the_channels_handler(ct):
    handler = EchoSocket()
    socket = await ct.connect(handler)
    assert socket.handler is handler
    reply = await ct.join(socket, "echo:1")
    assert reply.response == {"transport": "websocket", "handler": "EchoSocket"}


async def test_a_refused_connect_raises_connect_refused_with_the_refusal(ct):
    with pytest.raises(ConnectRefused) as info:
        await ct.connect(EchoSocket, {"deny": "true"})
    assert info.value.refusal == Refuse(429, "rate_limit")
    assert ct.hub.connection_pids() == []


async def test_a_bad_connect_result_raises_bad_callback_result_naming_connect(ct):
    with pytest.raises(BadCallbackResult, match=r"EchoSocket\.connect returned") as info:
        await ct.connect(EchoSocket, {"bad": "true"})
    assert info.value.callback == "connect"


async def test_a_bad_id_raises_bad_callback_result_naming_id(ct):
    with pytest.raises(BadCallbackResult, match=r"EchoSocket\.id returned 42"):
        await ct.connect(EchoSocket, {"user": "weird"})


async def test_a_crash_in_connect_propagates_to_the_test(ct):
    with pytest.raises(RuntimeError, match="connect crashed"):
        await ct.connect(EchoSocket, {"crash": "true"})


async def test_the_transport_name_is_what_channels_see(ct):
    socket = await ct.connect(EchoSocket, transport="longpoll")
    reply = await ct.join(socket, "echo:1")
    assert reply.response["transport"] == "longpoll"


# --- join and push ---------------------------------------------------------------------


async def test_subscribe_and_join_returns_the_reply_and_subscribes_the_test(ct):
    socket = await ct.connect(EchoSocket)
    reply = await ct.subscribe_and_join(socket, "echo:1")
    assert (reply.kind, reply.status) == ("reply", "ok")
    assert socket.join_refs == {"echo:1": reply.ref}
    ct.broadcast_from_outside("echo:1", "news", {"id": 1})
    await ct.assert_broadcast("echo:1", "news", {"id": 1})


async def test_an_error_reply_is_returned_unless_raise_on_error_is_set(ct):
    socket = await ct.connect(EchoSocket)
    reply = await ct.subscribe_and_join(socket, "echo:1", {"refuse": True})
    assert (reply.status, reply.response) == ("error", {"reason": "nope"})
    with pytest.raises(JoinRefused) as info:
        await ct.subscribe_and_join(socket, "echo:2", {"refuse": True}, raise_on_error=True)
    assert info.value.reply.response == {"reason": "nope"}
    assert socket.join_refs == {}


async def test_the_channel_argument_routes_the_topic_to_that_channel_for_the_case():
    handler = EchoSocket()
    async with channel_test() as ct:
        socket = await ct.connect(handler)
        reply = await ct.join(socket, "elsewhere:1", channel=OtherChannel)
        assert reply.response == {"channel": "other"}
        reply = await ct.join(socket, "echo:1", channel=OtherChannel)
        assert reply.response == {"channel": "other"}
        assert (await ct.join(socket, "echo:2")).response["handler"] == "EchoSocket"
    assert handler.channel_for("elsewhere:1") is None
    assert handler.channel_for("echo:1") is EchoChannel


async def test_push_refs_are_unique_across_sockets(ct):
    first = await ct.connect(EchoSocket)
    second = await ct.connect(EchoSocket)
    refs = [ct.push(first, "echo:1", "x"), ct.push(second, "echo:1", "x")]
    refs.append((await ct.join(first, "echo:1")).ref)
    assert len(set(refs)) == 3


async def test_push_goes_through_the_serializer_so_v1_cannot_send_bytes(ct):
    socket = await ct.connect(EchoSocket, serializer=V1JSONSerializer)
    with pytest.raises(ProtocolError):
        ct.push(socket, "echo:1", "bin", b"\x01")


async def test_pushing_on_a_closed_socket_is_a_misuse(ct):
    socket = await ct.connect(EchoSocket)
    await ct.close(socket)
    with pytest.raises(Misuse, match="closed"):
        ct.push(socket, "echo:1", "x")


async def test_leave_returns_the_reply_after_the_channel_exited(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    pid = socket.channel_pid("echo:1")
    reply = await ct.leave(socket, "echo:1")
    assert (reply.status, reply.response) == ("ok", {})
    assert pid is not None and not pid.alive
    assert socket.join_refs == {}


async def test_close_returns_once_the_connection_and_channels_are_gone(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    pid = socket.channel_pid("echo:1")
    assert await ct.close(socket) == "normal"
    assert pid is not None and not pid.alive and not socket.connection.alive
    assert socket.transport.closed and socket.transport.close_code is None


# --- assertions -------------------------------------------------------------------------


async def test_assert_push_takes_matching_frames_one_at_a_time(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    ct.push(socket, "echo:1", "twice")
    await ct.assert_push("same", {})
    await ct.assert_push("same", {})
    with pytest.raises(AssertionError):
        await ct.assert_push("same", timeout=0.05)


async def test_assert_push_failure_lists_what_the_client_got_instead(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    with pytest.raises(AssertionError) as info:
        await ct.assert_push("welcome", {"n": 2}, timeout=0.1)
    message = str(info.value)
    assert "expected a push 'welcome'" in message
    assert "push echo:1 'welcome' {'n': 1}" in message


async def test_assert_reply_failure_lists_the_reply_that_did_not_match(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    ref = ct.push(socket, "echo:1", "echo", {"a": 1})
    with pytest.raises(AssertionError) as info:
        await ct.assert_reply(ref, "error", timeout=0.1)
    assert f"reply echo:1 'ok' {{'a': 1}} (ref={ref!r}" in str(info.value)


async def test_refute_push_fails_when_the_push_arrives(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    with pytest.raises(AssertionError, match="expected no push 'welcome'"):
        await ct.refute_push("welcome")
    await ct.refute_push("welcome")


async def test_refute_reply_fails_when_a_reply_arrives(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    ref = ct.push(socket, "echo:1", "echo", {})
    with pytest.raises(AssertionError, match="expected no reply"):
        await ct.refute_reply(ref)


async def test_assert_broadcast_failure_lists_the_broadcasts_received(ct):
    ct.subscribe("echo:1")
    ct.broadcast_from_outside("echo:1", "news", {"id": 1})
    with pytest.raises(AssertionError) as info:
        await ct.assert_broadcast("echo:1", "news", {"id": 2}, timeout=0.1)
    assert "Broadcast(topic='echo:1', event='news', payload={'id': 1})" in str(info.value)
    await ct.assert_broadcast("echo:1", "news", {"id": 1})
    await ct.refute_broadcast("echo:1", "news")


async def test_assert_push_can_be_limited_to_one_topic_or_socket(ct):
    first = await ct.connect(EchoSocket)
    second = await ct.connect(EchoSocket)
    await ct.join(first, "echo:1")
    await ct.join(second, "echo:2")
    frame = await ct.assert_push("welcome", socket=second)
    assert frame.socket is second and frame.topic == "echo:2"
    await ct.assert_push("welcome", topic="echo:1")
    assert ct.pending == []


async def test_any_equals_anything_also_nested():
    assert ANY == 1 and ANY == {"a": [1]} and ANY == None  # noqa: E711
    assert not (ANY != "x")  # noqa: SIM202
    actual = {"id": 1, "at": 2.5}
    assert actual == {"id": 1, "at": ANY}
    assert [1, ANY] == [1, "x"]
    assert repr(ANY) == "ANY"


async def test_flush_empties_the_pending_frames(ct):
    socket = await ct.connect(EchoSocket)
    await ct.join(socket, "echo:1")
    await ct.assert_push("welcome")
    ct.push(socket, "echo:1", "twice")
    await ct.assert_push("same")
    await ct.assert_push("same")
    assert ct.flush() == []
    assert [f.event for f in socket.frames] == ["phx_reply", "welcome", "same", "same"]


# --- the in-memory transport ------------------------------------------------------------


def test_test_transport_decodes_v2_text_frames_by_kind():
    t = TestTransport()
    t.write(V2JSONSerializer.encode_push(Push("room:1", "hi", {"a": 1}, "3")))
    t.write(V2JSONSerializer.encode_broadcast(Broadcast("room:1", "all", {"b": 2})))
    t.write(V2JSONSerializer.encode_reply(ReplyFrame("room:1", "ok", {"c": 3}, "4", "3")))
    t.write(V2JSONSerializer.encode_control(phx_close("room:1", "3")))
    t.write(V2JSONSerializer.encode_control(phx_error("room:1", "3")))
    kinds = [(f.kind, f.event, f.ref, f.join_ref) for f in t.frames]
    assert kinds == [
        ("push", "hi", None, "3"),
        ("broadcast", "all", None, None),
        ("reply", "phx_reply", "4", "3"),
        ("close", "phx_close", "3", "3"),
        ("error", "phx_error", "3", "3"),
    ]
    assert (t.frames[2].status, t.frames[2].response) == ("ok", {"c": 3})
    assert t.frames[0].status is None


def test_test_transport_decodes_v2_binary_frames():
    t = TestTransport()
    t.write(V2JSONSerializer.encode_push(Push("room:1", "bin", b"\x07\x07", "3")))
    t.write(V2JSONSerializer.encode_broadcast(Broadcast("room:1", "all", b"\x01")))
    t.write(V2JSONSerializer.encode_reply(ReplyFrame("room:1", "ok", b"\x02", "4", "3")))
    push, bcast, reply = t.frames
    assert (push.kind, push.event, push.payload, push.join_ref, push.opcode) == (
        "push", "bin", b"\x07\x07", "3", "binary",
    )
    assert (bcast.kind, bcast.event, bcast.payload) == ("broadcast", "all", b"\x01")
    assert (reply.kind, reply.status, reply.response, reply.ref, reply.join_ref) == (
        "reply", "ok", b"\x02", "4", "3",
    )


def test_test_transport_decodes_v1_frames_without_join_refs():
    t = TestTransport(V1JSONSerializer)
    t.write(V1JSONSerializer.encode_reply(ReplyFrame("room:1", "ok", {}, "4", "3")))
    t.write(V1JSONSerializer.encode_control(phx_close("room:1", "3")))
    reply, close = t.frames
    assert (reply.kind, reply.ref, reply.join_ref, reply.status) == ("reply", "4", None, "ok")
    assert (close.kind, close.ref, close.join_ref) == ("close", "3", None)


def test_decode_server_frame_reads_a_heartbeat_reply():
    frame = ("text", '[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]')
    decoded = decode_server_frame(V2JSONSerializer, frame)
    assert (decoded.topic, decoded.status, decoded.response) == ("phoenix", "ok", {})
    assert (decoded.ref, decoded.join_ref) == ("1", None)


def test_test_transport_drops_writes_after_close_and_keeps_the_close_code():
    t = TestTransport()
    closes: list[int] = []
    t.on_close.append(lambda: closes.append(1))
    t.close(1001, "disconnected")
    t.close(1011, "again")
    t.write(V2JSONSerializer.encode_push(Push("room:1", "late", {}, "3")))
    assert (t.closed, t.close_code, t.close_reason) == (True, 1001, "disconnected")
    assert t.frames == [] and [f.event for f in t.dropped] == ["late"]
    assert closes == [1]


def test_prepared_frames_can_be_written_to_any_test_transport_with_the_same_key():
    a, b, v1 = TestTransport(), TestTransport(), TestTransport(V1JSONSerializer)
    assert a.frame_key == b.frame_key != v1.frame_key
    prepared = a.prepare(V2JSONSerializer.fastlane_encode(Broadcast("t", "e", {})))
    a.write_prepared(prepared)
    b.write_prepared(prepared)
    assert a.frames == b.frames and a.frames[0].kind == "broadcast"


# --- lifecycle ---------------------------------------------------------------------------


async def test_a_case_on_its_own_node_leaves_no_process_behind():
    case = channel_test()
    async with case as ct:
        socket = await ct.connect(EchoSocket)
        await ct.join(socket, "echo:1")
        assert len(ct.node) > 0
    assert len(case.node) == 0


async def test_a_case_on_a_given_node_stops_only_what_it_started():
    node = Node()
    keeper = await Probe.start(node)
    try:
        async with channel_test(node) as ct:
            socket = await ct.connect(EchoSocket)
            await ct.join(socket, "echo:1")
        assert [info.pid for info in node.processes()] == [keeper.pid]
        async with channel_test(node) as again:  # the names are free again
            await again.connect(EchoSocket)
    finally:
        await node.shutdown()


async def test_the_case_attaches_presence_unless_told_not_to():
    async with channel_test() as ct:
        assert isinstance(ct.hub.presence, Presence)
    async with channel_test(presence=False) as ct:
        assert ct.hub.presence is None
