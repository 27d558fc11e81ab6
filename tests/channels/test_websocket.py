"""WebSocket acceptance suite: Phoenix's integration cases (reference §6.1,
cases 1-28) and the server behaviours S1-S53 against a real aiohttp server.

Cases 1-26 run for V1 (JSON objects, no join_ref) and V2 (arrays). Refs are
numbered from 1 per connection and join_refs from 11 per join, as Phoenix's
test client does.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import aiohttp
import pytest

from bitnexus.server import drain_connections

from .support import V1, V2, Proto, TestServer, phx_client, running_server

OK: dict[str, Any] = {"status": "ok", "response": {}}
UNMATCHED = {"status": "error", "response": {"reason": "unmatched topic"}}
TOO_MANY = {"status": "error", "response": {"reason": "too many channels joined"}}
CRASH = {"reason": "channel_crash"}


@pytest.fixture(params=[V1, V2], ids=["V1", "V2"])
def proto(request: pytest.FixtureRequest) -> Proto:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def srv() -> Any:
    async with running_server() as server:
        yield server


async def handshake_status(url: str, **kwargs: Any) -> int:
    """101 when the upgrade succeeds, otherwise the HTTP status of the refusal."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, **kwargs):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def wait_dead(srv: TestServer, pid: Any) -> None:
    await asyncio.wait_for(srv.node.wait_exit(pid), 2.0)
    assert not pid.alive


async def connect_info(srv: TestServer, proto: Proto, **kwargs: Any) -> dict[str, Any]:
    """The connect_info a channel on /ws/connect_info sees, from its "joined" push."""
    async with phx_client(srv, proto, "/ws/connect_info", **kwargs) as c:
        await c.join("room:info")
        joined = await c.recv_until(lambda f: f.event == "joined")
        return joined.payload["connect_info"]  # type: ignore[no-any-return]


# --- cases 1-4: joins ------------------------------------------------------------------


async def test_join_on_admin_mount_is_answered_ok_with_ref_1_and_join_ref_11(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto, "/ws/admin") as c:
        await c.join("room:admin-lobby1")
        assert await c.recv() == (proto.jr("11"), "1", "room:admin-lobby1", "phx_reply", OK)


async def test_lobby_join_push_broadcast_intercept_and_leave_reach_the_client_in_order(
    srv: TestServer, proto: Proto
) -> None:
    topic = "room:lobby1"
    async with phx_client(srv, proto) as c:
        jr, ref = await c.join(topic, {"user": "ann"})
        # S20/S34: the reply first, then what after_join broadcasts and pushes.
        assert await c.recv() == (jr, ref, topic, "phx_reply", OK)
        assert await c.recv() == (None, None, topic, "user_entered", {"user": "ann"})
        joined = {"status": "connected", "user_id": None}
        assert await c.recv() == (jr, None, topic, "joined", joined)

        ref = await c.send(topic, "new_msg", {"body": "hi"}, jr)
        assert await c.recv() == (jr, ref, topic, "phx_reply", OK)
        intercepted = {"body": "hi", "transport": ":websocket"}
        assert await c.recv() == (jr, None, topic, "new_msg", intercepted)

        pid = srv.events.all("join", topic)[0]
        ref = await c.send(topic, "phx_leave", {}, jr)
        assert await c.recv() == (jr, ref, topic, "phx_reply", OK)
        assert await c.recv() == (jr, jr, topic, "phx_close", {})
        assert await c.recv() == (jr, None, topic, "you_left", {"message": "bye!"})
        assert await srv.events.wait_for("terminate", topic) == ("shutdown", "left")
        await wait_dead(srv, pid)

        ref = await c.send(topic, "new_msg", {"body": "lost"}, jr)
        assert await c.recv() == (None, ref, topic, "phx_reply", UNMATCHED)


async def test_the_101st_channel_on_one_connection_is_refused_and_the_others_keep_working(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        for i in range(100):
            await c.joined(f"room:{i}")
        _, ref = await c.join("room:100")
        assert ref == "101"
        assert await c.recv() == (proto.jr("111"), "101", "room:100", "phx_reply", TOO_MANY)
        first_jr = proto.jr("11")
        ref = await c.send("room:0", "new_msg", {"body": "still here"}, first_jr)
        assert await c.recv() == (first_jr, ref, "room:0", "phx_reply", OK)


async def test_limited_mount_refuses_a_second_channel(srv: TestServer, proto: Proto) -> None:
    async with phx_client(srv, proto, "/ws/limited") as c:
        await c.joined("room:a")
        await c.join("room:b")
        assert await c.recv() == (proto.jr("12"), "2", "room:b", "phx_reply", TOO_MANY)


# --- cases 5-10: connect_info -------------------------------------------------------------


async def test_connect_info_holds_x_headers(srv: TestServer, proto: Proto) -> None:
    info = await connect_info(srv, proto, headers={"x-application": "Phoenix"})
    assert info["x_headers"] == [["x-application", "Phoenix"]]


async def test_connect_info_holds_sec_websocket_headers(srv: TestServer, proto: Proto) -> None:
    headers = {"sec-websocket-protocol": "phoenix, 123", "sec-websocket-extensions": "foo"}
    info = await connect_info(srv, proto, headers=headers)
    assert ["sec-websocket-protocol", "phoenix, 123"] in info["sec_websocket_headers"]
    assert ["sec-websocket-extensions", "foo"] in info["sec_websocket_headers"]
    assert all(k.startswith("sec-websocket-") for k, _ in info["sec_websocket_headers"])


async def test_connect_info_holds_trace_context_headers(srv: TestServer, proto: Proto) -> None:
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "congo=t61rcWkgMzE",
        "x-other": "not trace context",
    }
    info = await connect_info(srv, proto, headers=headers)
    assert sorted(info["trace_context_headers"]) == [
        ["traceparent", headers["traceparent"]],
        ["tracestate", headers["tracestate"]],
    ]


async def test_connect_info_holds_peer_data(srv: TestServer, proto: Proto) -> None:
    peer = (await connect_info(srv, proto))["peer_data"]
    assert peer["address"] == "127.0.0.1"
    assert isinstance(peer["port"], int) and peer["port"] > 0
    assert peer["ssl_cert"] is None


async def test_connect_info_holds_the_uri(srv: TestServer, proto: Proto) -> None:
    info = await connect_info(srv, proto)
    port = int(srv.url.rsplit(":", 1)[1])
    assert info["uri"] == {
        "scheme": "http",
        "host": "127.0.0.1",
        "port": port,
        "path": "/ws/connect_info/websocket",
        "query": proto.query,
    }


async def test_connect_info_holds_the_user_agent(srv: TestServer, proto: Proto) -> None:
    info = await connect_info(srv, proto, headers={"user-agent": "foo/1.0"})
    assert info["user_agent"] == "foo/1.0"


# --- cases 16-18: crash, close, unmatched ------------------------------------------------------


async def test_boom_gives_phx_error_and_the_connection_stays_open(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        jr = await c.joined("room:crashy")
        pid = srv.events.all("join", "room:crashy")[0]
        await c.send("room:crashy", "boom", {}, jr)
        # terminate may push "you_left" first, as a GenServer's terminate runs on a raise.
        error = await c.recv_until(lambda f: f.event == "phx_error")
        assert error == (jr, jr, "room:crashy", "phx_error", CRASH)
        await wait_dead(srv, pid)
        await c.heartbeat()


async def test_client_closing_the_socket_stops_its_channel_with_shutdown_closed(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        await c.joined("room:closing")
        pid = srv.events.all("join", "room:closing")[0]
        await c.ws.ws.close()
    assert await srv.events.wait_for("terminate", "room:closing") == ("shutdown", "closed")
    await wait_dead(srv, pid)


async def test_messages_to_a_never_joined_topic_get_unmatched_topic_every_time(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        for _ in range(2):
            ref = await c.send("room:nobody", "new_msg", {"body": "x"})
            assert await c.recv() == (None, ref, "room:nobody", "phx_reply", UNMATCHED)
    assert srv.events.all("join") == []


# --- cases 19-21, 24: handshake refusals ----------------------------------------------------


async def test_origin_check_allows_listed_hosts_and_no_origin_and_refuses_others(
    srv: TestServer, proto: Proto
) -> None:
    url = srv.ws_url("/ws", proto.query)
    assert await handshake_status(url, origin="https://example.com") == 101
    assert await handshake_status(url) == 101
    assert await handshake_status(url, origin="http://notallowed.com") == 403
    assert await handshake_status(url, headers={"Origin": "null"}) == 403


async def test_connect_refusal_gives_403(srv: TestServer, proto: Proto) -> None:
    assert await handshake_status(srv.ws_url("/ws", f"reject=true&{proto.query}")) == 403


async def test_connect_refusal_with_its_own_status_gives_429(srv: TestServer, proto: Proto) -> None:
    assert await handshake_status(srv.ws_url("/ws", f"ratelimit=true&{proto.query}")) == 429


async def test_unsupported_vsn_gives_403_and_logs_the_mismatch(
    srv: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bitnexus.channels"):
        assert await handshake_status(srv.ws_url("/ws", "vsn=123.1.1")) == 403
    mismatch = "does not match server's version requirements"
    messages = [r.getMessage() for r in caplog.records]
    assert any("123.1.1" in m and mismatch in m for m in messages), messages
    assert srv.events.all("connect") == []


# --- cases 22, 23, 25, 26 -------------------------------------------------------------------------


async def test_disconnect_by_socket_id_closes_with_1001_and_stops_every_channel(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto, query="user_id=1001") as c:
        await c.join("room:d1")
        assert (await c.recv()).ref == "1"
        await c.join("room:d2")
        assert (await c.recv_until(lambda f: f.event == "phx_reply")).ref == "2"
        srv.hub.disconnect("user_sockets:1001")
        assert await c.ws.closed() == 1001
    for topic in ("room:d1", "room:d2"):
        assert await srv.events.wait_for("terminate", topic) == ("shutdown", "disconnected")


async def test_duplicate_join_answers_ok_then_closes_the_old_join_ref_without_terminate(
    srv: TestServer, proto: Proto
) -> None:
    topic = "room:joiner"
    async with phx_client(srv, proto) as c:
        old_jr = await c.joined(topic)
        old_pid = srv.events.all("join", topic)[0]
        new_jr, ref = await c.join(topic)
        assert ref == "2"
        # S23: the new join's reply, then (the new channel's after_join frames
        # may come in between) phx_close carrying the old join_ref.
        assert await c.recv() == (new_jr, "2", topic, "phx_reply", OK)
        frames = [await c.recv() for _ in range(3)]
        assert (old_jr, old_jr, topic, "phx_close", {}) in frames, frames
        assert {f.event for f in frames} == {"phx_close", "user_entered", "joined"}, frames
        assert not old_pid.alive
        assert srv.events.all("terminate", topic) == []  # S22: killed, no terminate
        ref = await c.send(topic, "new_msg", {"body": "new"}, new_jr)
        assert await c.recv() == (new_jr, ref, topic, "phx_reply", OK)


async def test_idle_connection_is_closed_by_the_server_with_a_non_1000_code(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto, "/ws/timeout") as c:
        await c.send("phoenix", "heartbeat")
        assert await c.recv() == (None, "1", "phoenix", "phx_reply", OK)
        loop = asyncio.get_running_loop()
        start = loop.time()
        code = await c.ws.closed(timeout=0.45)
        assert loop.time() - start < 0.45
        assert code == 1002


async def test_frames_keep_an_idle_timeout_connection_open(srv: TestServer, proto: Proto) -> None:
    async with phx_client(srv, proto, "/ws/timeout") as c:
        for _ in range(6):  # 0.6 s in all, three times the idle timeout
            await asyncio.sleep(0.1)
            await c.heartbeat()
        assert not c.ws.ws.closed


async def test_join_of_an_unmatched_topic_is_refused_with_null_join_ref_and_a_warning(
    srv: TestServer, proto: Proto, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bitnexus.channels"):
        async with phx_client(srv, proto) as c:
            await c.join("unmatched-topic")
            assert await c.recv() == (None, "1", "unmatched-topic", "phx_reply", UNMATCHED)
    assert any("unmatched topic" in r.getMessage() for r in caplog.records), caplog.records
    assert srv.events.all("join") == []


# --- cases 27, 28: V2 only --------------------------------------------------------------------


async def test_custom_channel_join_outcomes_and_close(srv: TestServer) -> None:
    async with phx_client(srv, V2) as c:
        await c.join("custom:ignore")
        ignored = {"status": "error", "response": {"action": "ignore"}}
        assert await c.recv() == ("11", "1", "custom:ignore", "phx_reply", ignored)
        await c.join("custom:error")
        crashed = {"status": "error", "response": {"reason": "join crashed"}}
        assert await c.recv() == ("12", "2", "custom:error", "phx_reply", crashed)
        await c.join("custom:ok")
        accepted = {"status": "ok", "response": {"action": "ok"}}
        assert await c.recv() == ("13", "3", "custom:ok", "phx_reply", accepted)
        await c.send("custom:ok", "close", {}, "13")
        assert await c.recv() == ("13", "13", "custom:ok", "phx_close", {})


async def test_binary_push_gets_a_binary_reply_and_a_binary_push_byte_for_byte(
    srv: TestServer,
) -> None:
    async with phx_client(srv, V2) as c:
        await c.join("room:bin")
        assert await c.recv() == ("11", "1", "room:bin", "phx_reply", OK)
        await c.recv_until(lambda f: f.event == "joined")
        # kind 0 push: join_ref "11", ref "2", topic "room:bin", event "binary_event"
        await c.ws.send_binary(b"\x00\x02\x01\x08\x0c11" b"2room:binbinary_event\x01\x02")
        push = await c.ws.recv()
        reply = await c.ws.recv()
        assert push == b"\x00\x02\x08\x0c" b"11room:binbinary_event" b"\x00\x01"
        assert reply == b"\x01\x02\x01\x08\x02" b"112room:binok" b"\x01\x02\x03\x04"
        srv.hub.broadcast("room:bin", "bcx", b"\x05")
        assert await c.ws.recv() == b"\x02\x08\x03room:binbcx\x05"


# --- S1-S7: handshake details ------------------------------------------------------------------


async def test_non_get_request_is_refused_with_400_before_connect(srv: TestServer) -> None:
    url = srv.url + "/ws/websocket?vsn=2.0.0"
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        assert resp.status == 400
    assert srv.events.all("connect") == []


async def test_get_without_upgrade_headers_gives_400_after_connect_ran(srv: TestServer) -> None:
    base = srv.url + "/ws/websocket?"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "user_id=plain&vsn=2.0.0") as resp:
            assert resp.status == 400
        assert srv.events.all("connect") == [{"user_id": "plain", "vsn": "2.0.0"}]
        async with session.get(base + "reject=true&vsn=2.0.0") as resp:
            assert resp.status == 403  # connect's refusal comes before the upgrade check
        headers = {"Origin": "http://notallowed.com"}
        async with session.get(base + "vsn=2.0.0", headers=headers) as resp:
            assert resp.status == 403


async def test_query_params_reach_connect_decoded_plug_style_with_vsn(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto, query="user_id=5&a[b]=1&a[c]=2&k=1&k=2") as c:
        await c.heartbeat()
    vsn = proto.query.removeprefix("vsn=")
    expected = {"user_id": "5", "a": {"b": "1", "c": "2"}, "k": "2", "vsn": vsn}
    assert srv.events.all("connect") == [expected]


async def test_connect_assigns_are_visible_to_the_channel(srv: TestServer, proto: Proto) -> None:
    async with phx_client(srv, proto, query="user_id=7") as c:
        await c.join("room:assigns")
        joined = await c.recv_until(lambda f: f.event == "joined")
        assert joined.payload == {"status": "connected", "user_id": "7"}


async def test_missing_vsn_speaks_v1(srv: TestServer) -> None:
    async with phx_client(srv, Proto("V1", "")) as c:
        await c.join("room:novsn")
        raw = await c.ws.recv()
        expected = {"topic": "room:novsn", "event": "phx_reply", "payload": OK, "ref": "1"}
        assert raw == expected


@pytest.mark.parametrize(
    ("vsn", "status"),
    [("1.0.5", 101), ("2.0.1", 101), ("2.1.0", 403), ("3.0.0", 403), ("two", 403), ("", 403)],
)
async def test_vsn_negotiation_accepts_only_1_0_x_and_2_0_x(
    srv: TestServer, vsn: str, status: int
) -> None:
    assert await handshake_status(srv.ws_url("/ws", f"vsn={vsn}")) == status


async def test_heartbeat_is_always_answered_and_other_phoenix_events_are_unmatched(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        ref = await c.send("phoenix", "heartbeat", {"ignored": True}, join_ref="99")
        assert await c.recv() == (None, ref, "phoenix", "phx_reply", OK)
        ref = await c.send("phoenix", "other")
        assert await c.recv() == (None, ref, "phoenix", "phx_reply", UNMATCHED)


async def test_phoenix_subprotocol_is_echoed(srv: TestServer) -> None:
    async with phx_client(srv, V2, protocols=("phoenix",)) as c:
        assert c.ws.ws.protocol == "phoenix"
        await c.heartbeat()


async def test_auth_token_subprotocol_reaches_connect_info_and_phoenix_is_echoed(
    srv: TestServer,
) -> None:
    token = "s3cr3t ÿþ?>"  # standard base64 with "+" and "/", and padding to strip
    encoded = base64.b64encode(token.encode()).decode().rstrip("=")
    protocols = ("phoenix", f"base64url.bearer.phx.{encoded}")
    async with phx_client(srv, V2, "/ws/connect_info", protocols=protocols) as c:
        assert c.ws.ws.protocol == "phoenix"
        await c.join("room:token")
        joined = await c.recv_until(lambda f: f.event == "joined")
        assert joined.payload["connect_info"]["auth_token"] == token


async def test_only_unknown_subprotocols_are_refused_with_403(srv: TestServer) -> None:
    assert await handshake_status(srv.ws_url(), protocols=("mqtt",)) == 403
    assert await handshake_status(srv.ws_url()) == 101


async def test_websocket_ping_is_answered_with_pong(srv: TestServer) -> None:
    async with phx_client(srv, V2, autoping=False) as c:
        await c.ws.ws.ping(b"are you there")
        msg = await c.ws.ws.receive(timeout=2.0)
        assert msg.type is aiohttp.WSMsgType.PONG
        assert msg.data == b"are you there"


# --- S13-S19: joins ------------------------------------------------------------------------------


async def test_refused_join_answers_the_channel_map_and_registers_nothing(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        jr, ref = await c.join("room:refuse")
        refused = {"status": "error", "response": {"reason": "unauthorized"}}
        assert await c.recv() == (jr, ref, "room:refuse", "phx_reply", refused)
        ref = await c.send("room:refuse", "new_msg", {"body": "x"}, jr)
        # No phx_close came in between: the next frame is the unmatched reply.
        assert await c.recv() == (None, ref, "room:refuse", "phx_reply", UNMATCHED)
        await wait_dead(srv, srv.events.all("join", "room:refuse")[0])


async def test_crashing_join_answers_join_crashed_and_the_topic_stays_free(
    srv: TestServer, proto: Proto
) -> None:
    topic = "room:crash_on_join"
    async with phx_client(srv, proto) as c:
        jr, ref = await c.join(topic)
        crashed = {"status": "error", "response": {"reason": "join crashed"}}
        assert await c.recv() == (jr, ref, topic, "phx_reply", crashed)
        ref = await c.send(topic, "new_msg", {}, jr)
        assert await c.recv() == (None, ref, topic, "phx_reply", UNMATCHED)
        await c.heartbeat()


# --- S24-S38: messages, leave ---------------------------------------------------------------------


async def test_stale_join_ref_messages_and_leaves_are_dropped_silently(
    srv: TestServer, proto: Proto
) -> None:
    topic = "room:stale"
    async with phx_client(srv, proto) as c:
        jr = await c.joined(topic)
        await c.send(topic, "new_msg", {"body": "stale"}, join_ref="stale")
        await c.send(topic, "phx_leave", {}, join_ref="stale")
        ref = await c.send(topic, "new_msg", {"body": "fresh"}, jr)
        # The channel handles messages in order: had either stale frame got
        # through, its reply, phx_close or broadcast would come first.
        assert await c.recv() == (jr, ref, topic, "phx_reply", OK)
        fresh = {"body": "fresh", "transport": ":websocket"}
        assert await c.recv() == (jr, None, topic, "new_msg", fresh)
        assert srv.events.all("join", topic)[0].alive


async def test_message_with_null_join_ref_is_delivered(srv: TestServer) -> None:
    async with phx_client(srv, V2) as c:
        await c.joined("room:nulljr")
        ref = await c.send("room:nulljr", "echo", {"n": 1}, join_ref=None)
        reply = {"status": "ok", "response": {"payload": {"n": 1}}}
        assert await c.recv() == ("11", ref, "room:nulljr", "phx_reply", reply)


async def test_leave_of_an_unjoined_topic_is_answered_ok_and_a_left_topic_can_be_rejoined(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        ref = await c.send("room:never", "phx_leave", {}, join_ref="5")
        assert await c.recv() == (proto.jr("5"), ref, "room:never", "phx_reply", OK)
        jr = await c.joined("room:again")
        await c.send("room:again", "phx_leave", {}, jr)
        await c.recv_until(lambda f: f.event == "you_left")
        new_jr = await c.joined("room:again")
        ref = await c.send("room:again", "new_msg", {"body": "back"}, new_jr)
        assert await c.recv() == (new_jr, ref, "room:again", "phx_reply", OK)


async def test_broadcasts_reach_every_client_on_the_topic(srv: TestServer, proto: Proto) -> None:
    topic = "room:shared"
    async with phx_client(srv, proto) as a, phx_client(srv, V2) as b:
        a_jr = await a.joined(topic)
        b_jr = await b.joined(topic)
        await a.recv_until(lambda f: f.event == "user_entered")  # b's arrival
        ref = await a.send(topic, "new_msg", {"body": "hi all"}, a_jr)
        assert await a.recv() == (a_jr, ref, topic, "phx_reply", OK)
        out = {"body": "hi all", "transport": ":websocket"}
        assert await a.recv() == (a_jr, None, topic, "new_msg", out)
        assert await b.recv() == (b_jr, None, topic, "new_msg", out)
        srv.hub.broadcast(topic, "announce", {"from": "server"})
        for client in (a, b):
            assert await client.recv() == (None, None, topic, "announce", {"from": "server"})


# --- S40-S48: crashes, disconnects, limits, drain -------------------------------------------


async def test_crash_errors_only_its_topic_and_the_topic_can_be_rejoined(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto) as c:
        a_jr = await c.joined("room:a")
        b_jr = await c.joined("room:b")
        b_pid = srv.events.all("join", "room:b")[0]
        await c.send("room:a", "boom", {}, a_jr)
        error = await c.recv_until(lambda f: f.event == "phx_error")
        assert error == (a_jr, a_jr, "room:a", "phx_error", CRASH)
        ref = await c.send("room:b", "new_msg", {"body": "b"}, b_jr)
        assert await c.recv() == (b_jr, ref, "room:b", "phx_reply", OK)
        ref = await c.send("room:a", "new_msg", {"body": "a"}, a_jr)
        assert await c.recv_until(lambda f: f.topic == "room:a") == (
            None, ref, "room:a", "phx_reply", UNMATCHED,
        )
        new_jr = await c.joined("room:a")
        assert new_jr == proto.jr("13")
        assert srv.events.all("join", "room:b") == [b_pid] and b_pid.alive


async def test_other_events_on_the_socket_id_topic_are_ignored(
    srv: TestServer, proto: Proto
) -> None:
    async with phx_client(srv, proto, query="user_id=77") as c:
        await c.joined("room:id")
        srv.hub.broadcast("user_sockets:77", "not_disconnect", {})
        ref = await c.send("phoenix", "heartbeat")
        assert await c.recv() == (None, ref, "phoenix", "phx_reply", OK)
        srv.hub.disconnect("user_sockets:78")  # someone else
        await c.heartbeat()
        srv.hub.disconnect("user_sockets:77")
        assert await c.ws.closed() == 1001


async def test_frame_over_max_frame_size_closes_with_1009(proto: Proto) -> None:
    async with running_server(max_frame_size=1024) as srv, phx_client(srv, proto) as c:
        jr = await c.joined("room:big")
        ref = await c.send("room:big", "echo", "x" * 900, jr)
        echoed = {"status": "ok", "response": {"payload": "x" * 900}}
        assert await c.recv() == (jr, ref, "room:big", "phx_reply", echoed)
        await c.send("room:big", "echo", "x" * 2000, jr)
        assert await c.ws.closed() == 1009
        assert await srv.events.wait_for("terminate", "room:big") == ("shutdown", "closed")


async def test_drain_closes_every_connection_with_1012(srv: TestServer) -> None:
    async with phx_client(srv, V2) as a, phx_client(srv, V1) as b:
        await a.joined("room:drain")
        await b.joined("room:drain")
        count = await drain_connections(srv.hub, timeout=2)
        assert count == 2
        assert await a.ws.closed() == 1012
        assert await b.ws.closed() == 1012
        assert srv.hub.connection_pids() == []
    for pid in srv.events.all("join", "room:drain"):
        await wait_dead(srv, pid)
