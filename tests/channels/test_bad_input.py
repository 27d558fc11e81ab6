"""Malformed-frame corpus over a real WebSocket (S43, S46, S47).

A malformed frame closes only the connection that sent it (1011, or 1009 when
it is bigger than max_frame_size); a bystander connection joined earlier keeps
its channel process and keeps working. Odd but valid input (non-object
payloads, huge topics, extra array elements) is served normally.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from .support import V1, V2, PhxClient, Proto, TestServer, phx_client, running_server

OK: dict[str, Any] = {"status": "ok", "response": {}}
VICTIM, BYSTANDER = "room:victim", "room:bystander"


def binary(
    kind: int, join_ref: bytes, ref: bytes, topic: bytes, event: bytes, payload: bytes
) -> bytes:
    """A client binary frame with the kind byte of our choosing (§1.8 layout)."""
    header = bytes((kind, len(join_ref), len(ref), len(topic), len(event)))
    return header + join_ref + ref + topic + event + payload


VALID_PUSH = binary(0, b"11", b"9", VICTIM.encode(), b"bin", b"\x01\x02")
TEN_MB = 10 * 1024 * 1024

MALFORMED = [
    pytest.param(V2, "text", "not json", 1011, id="V2-bad-json"),
    pytest.param(V2, "text", "[]", 1011, id="V2-empty-array"),
    pytest.param(V2, "text", "[1,2]", 1011, id="V2-short-array"),
    pytest.param(V2, "text", '["11","2","room:victim","new_msg"]', 1011, id="V2-four-elements"),
    pytest.param(V2, "text", '"str"', 1011, id="V2-string"),
    pytest.param(V2, "text", "{}", 1011, id="V2-object"),
    pytest.param(V2, "text", "null", 1011, id="V2-null"),
    pytest.param(V2, "text", '[null,"2",42,"new_msg",{}]', 1011, id="V2-topic-not-string"),
    pytest.param(V2, "text", '[null,"2","room:victim",{},{}]', 1011, id="V2-event-not-string"),
    pytest.param(V2, "text", '[null,true,"room:victim","new_msg",{}]', 1011, id="V2-ref-bool"),
    pytest.param(V1, "text", '{"topic":"room:victim","event":"new_msg","payload":{}}', 1011,
                 id="V1-missing-ref"),
    pytest.param(V1, "text", '{"topic":"room:victim","event":"new_msg","ref":"2"}', 1011,
                 id="V1-missing-payload"),
    pytest.param(V1, "text", '[null,"2","room:victim","new_msg",{}]', 1011, id="V1-array"),
    pytest.param(V1, "text", "not json", 1011, id="V1-bad-json"),
    pytest.param(V1, "binary", VALID_PUSH, 1011, id="V1-binary-frame"),
    pytest.param(V2, "binary", binary(1, b"11", b"9", b"room:victim", b"ok", b"\x01"), 1011,
                 id="V2-binary-kind-1"),
    pytest.param(V2, "binary", binary(2, b"11", b"9", b"room:victim", b"bin", b"\x01"), 1011,
                 id="V2-binary-kind-2"),
    pytest.param(V2, "binary", binary(3, b"11", b"9", b"room:victim", b"bin", b"\x01"), 1011,
                 id="V2-binary-kind-3"),
    pytest.param(V2, "binary", binary(255, b"11", b"9", b"room:victim", b"bin", b"\x01"), 1011,
                 id="V2-binary-kind-255"),
    pytest.param(V2, "binary", b"", 1011, id="V2-binary-empty"),
    pytest.param(V2, "binary", b"\x00\x02\x01", 1011, id="V2-binary-truncated-header"),
    pytest.param(V2, "binary", b"\x00\x02\x01\x0b\x07" b"11" b"9" b"room:victim", 1011,
                 id="V2-binary-lengths-beyond-data"),
    pytest.param(V2, "binary", b"\x00\xff\xff\xff\xff" b"11", 1011, id="V2-binary-huge-lengths"),
    pytest.param(V2, "binary", binary(0, b"11", b"9", b"room:\xff\xfe", b"bin", b"\x01"), 1011,
                 id="V2-binary-invalid-utf8-topic"),
    pytest.param(V2, "binary", binary(0, b"11", b"9", b"room:victim", b"\xc3(", b"\x01"), 1011,
                 id="V2-binary-invalid-utf8-event"),
    pytest.param(V2, "text", '["11","2","room:victim","echo","' + "x" * TEN_MB + '"]', 1009,
                 id="V2-10MB-text"),
    pytest.param(V2, "binary", b"\x00" * TEN_MB, 1009, id="V2-10MB-binary"),
    pytest.param(V1, "text", "x" * TEN_MB, 1009, id="V1-10MB-text"),
]


@pytest.fixture
async def srv() -> AsyncIterator[TestServer]:
    async with running_server() as server:
        yield server


@contextlib.asynccontextmanager
async def bystander(srv: TestServer) -> AsyncIterator[PhxClient]:
    """A V2 client joined to BYSTANDER before anything bad happens; on exit it
    must still answer, broadcast and receive, with the same channel process."""
    async with phx_client(srv, V2) as c:
        jr = await c.joined(BYSTANDER)
        [pid] = srv.events.all("join", BYSTANDER)
        yield c
        await c.heartbeat()
        ref = await c.send(BYSTANDER, "new_msg", {"body": "still here"}, jr)
        assert await c.recv() == (jr, ref, BYSTANDER, "phx_reply", OK)
        out = {"body": "still here", "transport": ":websocket"}
        assert await c.recv() == (jr, None, BYSTANDER, "new_msg", out)
        srv.hub.broadcast(BYSTANDER, "new_msg", {"body": "from outside"})
        out = {"body": "from outside", "transport": ":websocket"}
        assert await c.recv() == (jr, None, BYSTANDER, "new_msg", out)
        assert srv.events.all("join", BYSTANDER) == [pid] and pid.alive
        assert srv.events.all("terminate", BYSTANDER) == []


async def send_raw(c: PhxClient, opcode: str, data: Any) -> None:
    # The server may close (1009) and drop the TCP connection while a 10 MB
    # frame is still going out; its Close frame is what the client must see.
    with contextlib.suppress(ConnectionError):
        if opcode == "text":
            await c.ws.ws.send_str(data)
        else:
            await c.ws.ws.send_bytes(data)


@pytest.mark.parametrize(("proto", "opcode", "data", "code"), MALFORMED)
async def test_malformed_frame_closes_only_its_own_connection(
    srv: TestServer, proto: Proto, opcode: str, data: Any, code: int
) -> None:
    async with bystander(srv):
        async with phx_client(srv, proto) as victim:
            await victim.joined(VICTIM)
            [victim_pid] = srv.events.all("join", VICTIM)
            await send_raw(victim, opcode, data)
            assert await victim.ws.closed() == code
        # S43: every channel of the closed connection stops; S41: after an
        # undecodable frame, with the connection's own exit reason.
        await asyncio.wait_for(srv.node.wait_exit(victim_pid), 2.0)
        expected = ("shutdown", "protocol_error") if code == 1011 else ("shutdown", "closed")
        assert await srv.events.wait_for("terminate", VICTIM) == expected


@pytest.mark.parametrize("proto", [V1, V2], ids=["V1", "V2"])
@pytest.mark.parametrize(
    "payload",
    [[1, 2], [], "str", 42, 1.5, None, True],
    ids=["list", "empty-list", "string", "int", "float", "null", "bool"],
)
async def test_non_object_payloads_reach_handle_in(
    srv: TestServer, proto: Proto, payload: Any
) -> None:
    async with bystander(srv), phx_client(srv, proto) as c:
        jr = await c.joined(VICTIM)
        ref = await c.send(VICTIM, "echo", payload, jr)
        echoed = {"status": "ok", "response": {"payload": payload}}
        assert await c.recv() == (jr, ref, VICTIM, "phx_reply", echoed)
        await c.heartbeat()


async def test_extra_v2_array_elements_are_ignored(srv: TestServer) -> None:
    async with phx_client(srv, V2) as c:
        await c.joined(VICTIM)
        await c.ws.ws.send_str('["11","5","room:victim","echo",{"a":1},"extra",7]')
        echoed = {"status": "ok", "response": {"payload": {"a": 1}}}
        assert await c.recv() == ("11", "5", VICTIM, "phx_reply", echoed)


@pytest.mark.parametrize("proto", [V1, V2], ids=["V1", "V2"])
async def test_huge_topics_within_the_frame_limit_are_served(srv: TestServer, proto: Proto) -> None:
    joinable = "room:" + "x" * 200_000
    unmatched = "nope:" + "y" * 200_000
    async with bystander(srv), phx_client(srv, proto) as c:
        jr = await c.joined(joinable)
        ref = await c.send(joinable, "echo", {"big": True}, jr)
        echoed = {"status": "ok", "response": {"payload": {"big": True}}}
        assert await c.recv() == (jr, ref, joinable, "phx_reply", echoed)
        ref = await c.send(unmatched, "new_msg", {})
        not_found = {"status": "error", "response": {"reason": "unmatched topic"}}
        assert await c.recv() == (None, ref, unmatched, "phx_reply", not_found)


async def test_binary_fields_of_255_bytes_are_accepted(srv: TestServer) -> None:
    topic = "room:" + "t" * 250  # exactly 255 UTF-8 bytes, the field limit
    async with phx_client(srv, V2) as c:
        await c.joined(topic)
        await c.ws.send_binary(binary(0, b"11", b"9" * 255, topic.encode(), b"bin", b"\x07" * 3))
        acked = {"size": 3, "transport": ":websocket"}
        assert await c.recv() == ("11", None, topic, "bin_ack", acked)


async def test_a_channel_crash_loop_leaves_the_connection_usable(srv: TestServer) -> None:
    topic = "room:crashloop"
    async with phx_client(srv, V2) as c:
        for _ in range(20):
            jr = await c.joined(topic)
            await c.send(topic, "boom", {}, jr)
            error = await c.recv_until(lambda f: f.event == "phx_error")
            assert error == (jr, jr, topic, "phx_error", {"reason": "channel_crash"})
        pids = srv.events.all("join", topic)
        assert len(pids) == 20
        for pid in pids:
            await asyncio.wait_for(srv.node.wait_exit(pid), 2.0)
        await c.heartbeat()
        jr = await c.joined(topic)
        ref = await c.send(topic, "new_msg", {"body": "alive"}, jr)
        assert await c.recv() == (jr, ref, topic, "phx_reply", OK)
