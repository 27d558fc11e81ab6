"""The long-poll transport against a real aiohttp server: the acceptance cases
of reference §6.2 (V1 unless stated, 13 to 20 on V1 and V2), §6.3's
long-poll extras, and our own choices (400 on an undecodable frame, 413 on a
body over the limit, tokens bound to mount and node)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bitnexus.actors import Actor
from bitnexus.channels import Channel, MountOptions, Ok, Socket, mount_socket
from bitnexus.channels.longpoll import TOKEN_MAX_AGE, SessionTokens
from bitnexus.channels.protocol import Broadcast

from .support import TestServer, running_server

V1, V2 = "1.0.0", "2.0.0"
BOTH = pytest.mark.parametrize("vsn", [V1, V2])


def frame(
    vsn: str, topic: str, event: str, payload: Any, ref: Any = None, join_ref: Any = None
) -> str:
    if vsn == V1:
        obj = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        if join_ref is not None:
            obj["join_ref"] = join_ref
        return orjson.dumps(obj).decode()
    return orjson.dumps([join_ref, ref, topic, event, payload]).decode()


def parse(text: str) -> tuple[Any, Any, str, str, Any]:
    """(join_ref, ref, topic, event, payload) of a V1 or V2 server frame."""
    value = orjson.loads(text)
    if isinstance(value, dict):
        assert "join_ref" not in value  # V1 server frames never carry it
        return None, value["ref"], value["topic"], value["event"], value["payload"]
    return tuple(value)  # type: ignore[return-value]


def binary_push(join_ref: str, ref: str, topic: str, event: str, payload: bytes) -> bytes:
    fields = [f.encode() for f in (join_ref, ref, topic, event)]
    return bytes([0, *map(len, fields)]) + b"".join(fields) + payload


class LongPoll:
    """A long-poll client that behaves like the JS one (token as a query param)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base: str,
        path: str = "/ws",
        vsn: str = V1,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.http = http
        self.url = f"{base}{path}/longpoll"
        self.vsn = vsn
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        self.token: str | None = None

    def query(self) -> list[tuple[str, str]]:
        pairs = [*self.params.items(), ("vsn", self.vsn)]
        return pairs + ([("token", self.token)] if self.token else [])

    async def request(
        self,
        method: str,
        *,
        data: Any = None,
        headers: dict[str, str] | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        async with self.http.request(
            method,
            self.url,
            params=self.query() if query is None else query,
            data=data,
            headers={**self.headers, **(headers or {})},
        ) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"] == "application/json; charset=utf-8"
            assert resp.headers["cache-control"] == "no-store"
            assert resp.headers["access-control-allow-origin"] == "*"
            return orjson.loads(await resp.read())  # type: ignore[no-any-return]

    async def open(self) -> dict[str, Any]:
        body = await self.request("GET")
        assert body["status"] == 410, body
        assert body["messages"] == []
        self.token = body["token"]
        return body

    async def get(self) -> dict[str, Any]:
        return await self.request("GET")

    async def post(self, *frames: str | bytes, ndjson: bool = False, **kw: Any) -> int:
        if ndjson:
            lines = [f if isinstance(f, str) else base64.b64encode(f).decode() for f in frames]
            body = await self.request(
                "POST",
                data="\n".join(lines).encode(),
                headers={"Content-Type": "application/x-ndjson"},
                **kw,
            )
        else:
            (single,) = frames
            body = await self.request(
                "POST",
                data=single,
                headers=kw.pop("headers", None) or {"Content-Type": "application/json"},
                **kw,
            )
        return body["status"]  # type: ignore[no-any-return]

    async def collect(self, count: int, timeout: float = 3.0) -> list[tuple[Any, ...]]:
        """Poll until ``count`` messages arrived (a poll may return fewer)."""
        got: list[tuple[Any, ...]] = []
        async with asyncio.timeout(timeout):
            while len(got) < count:
                body = await self.get()
                assert body["status"] in (200, 204), body
                assert body["token"] == self.token
                got += [parse(m) for m in body["messages"]]
        return got

    async def join(
        self, topic: str, ref: str = "1", join_ref: Any = None, payload: Any = None
    ) -> None:
        jr = join_ref if self.vsn == V2 else None
        assert await self.post(frame(self.vsn, topic, "phx_join", payload or {}, ref, jr)) == 200
        got = await self.collect(3)
        assert [(m[1], m[3]) for m in got] == [
            (ref, "phx_reply"),
            (None, "user_entered"),
            (None, "joined"),
        ]
        assert got[0][4] == {"status": "ok", "response": {}}


@contextlib.asynccontextmanager
async def client(**overrides: Any) -> AsyncIterator[tuple[TestServer, aiohttp.ClientSession]]:
    # A bounded client: a request the server never answers fails the test instead of hanging.
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        running_server(**overrides) as server,
        aiohttp.ClientSession(timeout=timeout) as http,
    ):
        yield server, http


class Collector(Actor):
    """Subscribes to topics to observe broadcasts, as Phoenix's tests do."""

    def __init__(self) -> None:
        self.seen: list[Broadcast] = []
        self.changed = asyncio.Event()

    async def handle_info(self, message: Any) -> Any:
        self.seen.append(message)
        self.changed.set()

    async def wait(
        self, predicate: Callable[[list[Broadcast]], bool], timeout: float = 3.0
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.seen):
                self.changed.clear()
                await self.changed.wait()


def collector(server: TestServer, topic: str) -> Collector:
    c = Collector()
    server.hub.pubsub.subscribe(server.node.spawn(c), topic)
    return c


def bodies(c: Collector, event: str = "new_msg") -> list[Any]:
    return [b.payload.get("body") for b in c.seen if b.event == event]


# --- §6.2 cases 1 to 12 -------------------------------------------------------------------


async def test_a_new_session_gets_410_then_the_join_reply_broadcast_and_push_then_204() -> None:
    async with client() as (_server, http):
        lp = LongPoll(http, _server.url)
        await lp.open()
        assert await lp.post(frame(V1, "room:lobby", "phx_join", {}, "1")) == 200
        got = await lp.collect(3)
        assert got == [
            (None, "1", "room:lobby", "phx_reply", {"status": "ok", "response": {}}),
            (None, None, "room:lobby", "user_entered", {"user": None}),
            (None, None, "room:lobby", "joined", {"status": "connected", "user_id": None}),
        ]
        empty = await lp.get()
        assert (empty["status"], empty["messages"], empty["token"]) == (204, [], lp.token)


async def test_the_101st_join_of_a_session_is_refused_with_too_many_channels() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        for i in range(1, 101):
            await lp.join(f"room:{i}", ref=str(i))
        assert await lp.post(frame(V1, "room:101", "phx_join", {}, "101")) == 200
        (reply,) = await lp.collect(1)
        assert reply == (
            None,
            "101",
            "room:101",
            "phx_reply",
            {"status": "error", "response": {"reason": "too many channels joined"}},
        )


async def test_connect_info_has_x_headers_trace_context_peer_uri_and_the_auth_token() -> None:
    headers = {
        "x-application": "Phoenix",
        "traceparent": "00-abc-01",
        "tracestate": "k=v",
        "X-Phoenix-AuthToken": "s3cr3t-token",
    }
    async with client() as (server, http):
        lp = LongPoll(http, server.url, "/ws/connect_info", headers=headers)
        await lp.open()
        assert await lp.post(frame(V1, "room:lobby", "phx_join", {}, "1")) == 200
        joined = (await lp.collect(3))[2]
        info = joined[4]["connect_info"]
        assert ["x-application", "Phoenix"] in info["x_headers"]
        assert info["trace_context_headers"] == [
            ["traceparent", "00-abc-01"],
            ["tracestate", "k=v"],
        ]
        assert info["peer_data"]["address"] == "127.0.0.1"
        uri = info["uri"]
        assert (uri["host"], uri["path"], uri["query"], uri["scheme"]) == (
            "127.0.0.1",
            "/ws/connect_info/longpoll",
            "vsn=1.0.0",
            "http",
        )
        assert info["auth_token"] == "s3cr3t-token"


@pytest.mark.parametrize("vsn", [V1, V2])
async def test_a_new_msg_is_broadcast_and_an_unjoined_topic_gets_unmatched_topic(vsn: str) -> None:
    async with client() as (server, http):
        lobby, private = collector(server, "room:lobby"), collector(server, "room:private-room")
        lp = LongPoll(http, server.url, vsn=vsn)
        await lp.open()
        await lp.join("room:lobby", join_ref="1")
        assert await lp.post(frame(vsn, "room:lobby", "new_msg", {"body": "hi"}, "2")) == 200
        await lobby.wait(lambda seen: bodies(lobby) == ["hi"])
        (out,) = await lp.collect(1)
        assert out == (
            None if vsn == V1 else "1",
            None,
            "room:lobby",
            "new_msg",
            {"body": "hi", "transport": ":longpoll"},
        )
        assert (
            await lp.post(frame(vsn, "room:private-room", "new_msg", {"body": "x"}, "12300")) == 200
        )
        (reply,) = await lp.collect(1)
        assert reply == (
            None,
            "12300",
            "room:private-room",
            "phx_reply",
            {"status": "error", "response": {"reason": "unmatched topic"}},
        )
        assert private.seen == []


async def test_ndjson_batches_carry_text_and_base64_binary_frames_in_order_minus_stale() -> None:
    async with client() as (server, http):
        lobby = collector(server, "room:lobby")
        lp = LongPoll(http, server.url, vsn=V2)
        await lp.open()
        await lp.join("room:lobby", join_ref="1")
        assert (
            await lp.post(
                frame(V2, "room:lobby", "new_msg", {"body": "hi1"}, "2"),
                frame(V2, "room:lobby", "new_msg", {"body": "hi2"}, "3", "1"),
                frame(V2, "room:lobby", "new_msg", {"body": "stale"}, "4", "stale"),
                ndjson=True,
            )
            == 200
        )
        assert (
            await lp.post(
                binary_push("1", "5", "room:lobby", "bin", b"\x01\x02\x03"),
                frame(V2, "room:lobby", "new_msg", {"body": "hi3"}, "6", "1"),
                ndjson=True,
            )
            == 200
        )
        await lobby.wait(lambda seen: len(seen) >= 5)
        assert [(b.event, b.payload) for b in lobby.seen[1:]] == [
            ("new_msg", {"body": "hi1"}),
            ("new_msg", {"body": "hi2"}),
            ("bin_ack", {"size": 3}),
            ("new_msg", {"body": "hi3"}),
        ]
        assert lobby.seen[0].event == "user_entered"
        got = await lp.collect(4)
        assert got == [
            ("1", None, "room:lobby", "new_msg", {"body": "hi1", "transport": ":longpoll"}),
            ("1", None, "room:lobby", "new_msg", {"body": "hi2", "transport": ":longpoll"}),
            ("1", None, "room:lobby", "bin_ack", {"size": 3, "transport": ":longpoll"}),
            ("1", None, "room:lobby", "new_msg", {"body": "hi3", "transport": ":longpoll"}),
        ]


async def test_a_session_nobody_polls_stops_its_channels_with_shutdown_inactive() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        await lp.join("room:idle")
        reason = await server.events.wait_for("terminate", "room:idle", timeout=5.0)
        assert reason == ("shutdown", "inactive")
        assert await lp.post(frame(V1, "room:idle", "new_msg", {"body": "late"}, "2")) == 410


class SlowChannel(Channel):
    async def join(self, topic: str, payload: Any, socket: Any) -> Any:
        await asyncio.sleep(1.0)
        return Ok({})


class SlowSocket(Socket):
    channels = [("slow:*", SlowChannel)]


@contextlib.asynccontextmanager
async def extra_mount(
    server: TestServer, path: str, socket: Socket, **options: Any
) -> AsyncIterator[str]:
    """Mount ``socket`` at ``path`` on a second app sharing the server's hub."""
    app = web.Application()
    mount_socket(
        app,
        path,
        socket,
        server.hub,
        MountOptions(**{"check_origin": False, "secret": b"y" * 32, **options}),
    )
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_frame_not_acknowledged_within_the_window_answers_408() -> None:
    async with (
        client() as (server, http),
        extra_mount(server, "/ws/slow", SlowSocket(), longpoll_window=0.1) as url,
    ):
        lp = LongPoll(http, url, "/ws/slow", vsn=V2)
        await lp.open()
        status = await lp.post(
            frame(V2, "slow:1", "phx_join", {}, "1", "1"),
            frame(V2, "slow:1", "new_msg", {}, "2", "1"),
            ndjson=True,
        )
        assert status == 408


async def test_an_ndjson_batch_of_101_lines_processes_only_the_first_100_in_order() -> None:
    async with client() as (server, http):
        lobby = collector(server, "room:lobby")
        lp = LongPoll(http, server.url, vsn=V2)
        await lp.open()
        await lp.join("room:lobby", join_ref="1")
        batch = [
            frame(V2, "room:lobby", "new_msg", {"body": i}, str(i + 1), "1") for i in range(1, 102)
        ]
        assert await lp.post(*batch, ndjson=True) == 200
        # One more frame afterwards: once it is seen, line 101 would have been too.
        assert (
            await lp.post(frame(V2, "room:lobby", "new_msg", {"body": "after"}, "200", "1")) == 200
        )
        await lobby.wait(lambda seen: "after" in bodies(lobby))
        assert bodies(lobby) == [*range(1, 101), "after"]


# --- §6.2 cases 13 to 20, V1 and V2 ----------------------------------------------------------


@BOTH
@pytest.mark.parametrize("param", ["reject", "custom_error"])
async def test_a_refused_connect_answers_403(vsn: str, param: str) -> None:
    async with client() as (server, http):
        body = await LongPoll(http, server.url, vsn=vsn, params={param: "true"}).get()
        assert body == {"status": 403}


@BOTH
async def test_the_origin_is_checked_on_every_request(vsn: str) -> None:
    async with client() as (server, http):
        good = LongPoll(http, server.url, vsn=vsn, headers={"Origin": "https://example.com"})
        assert (await good.open())["status"] == 410
        bad = {"Origin": "http://notallowed.com"}
        assert await LongPoll(http, server.url, vsn=vsn, headers=bad).get() == {"status": 403}
        assert await good.request("GET", headers=bad) == {"status": 403}
        join = frame(vsn, "room:lobby", "phx_join", {}, "1")
        assert await good.request("POST", data=join, headers=bad) == {"status": 403}


@BOTH
async def test_boom_crashes_the_channel_and_the_next_poll_gets_phx_error(vsn: str) -> None:
    join_ref = "1" if vsn == V2 else None
    async with client() as (server, http):
        lp = LongPoll(http, server.url, vsn=vsn)
        await lp.open()
        await lp.join("room:boom", join_ref=join_ref)
        assert await lp.post(frame(vsn, "room:boom", "boom", {}, "2", join_ref)) == 200
        (error,) = await lp.collect(1)
        assert error == (join_ref, join_ref, "room:boom", "phx_error", {"reason": "channel_crash"})
        assert await lp.get() == {"status": 204, "token": lp.token, "messages": []}


@BOTH
async def test_a_stale_leave_is_ignored_and_a_leave_replies_then_closes(vsn: str) -> None:
    join_ref = "1" if vsn == V2 else None
    async with client() as (server, http):
        lp = LongPoll(http, server.url, vsn=vsn)
        await lp.open()
        await lp.join("room:leave", join_ref=join_ref)
        assert await lp.post(frame(vsn, "room:leave", "phx_leave", {}, "2", "stale")) == 200
        assert await lp.post(frame(vsn, "room:leave", "phx_leave", {}, "3")) == 200
        got = await lp.collect(2)
        assert got == [
            (join_ref, "3", "room:leave", "phx_reply", {"status": "ok", "response": {}}),
            (join_ref, join_ref, "room:leave", "phx_close", {}),
        ]
        assert await server.events.wait_for("terminate", "room:leave") == ("shutdown", "left")


@BOTH
async def test_disconnect_by_socket_id_stops_the_channels_and_the_session(vsn: str) -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url, vsn=vsn, params={"user_id": "456"})
        old = (await lp.open())["token"]
        await lp.join("room:a", ref="1", join_ref="1")
        await lp.join("room:b", ref="2", join_ref="2")
        assert server.hub.disconnect("user_sockets:456") == 1
        for topic in ("room:a", "room:b"):
            assert await server.events.wait_for("terminate", topic) == ("shutdown", "disconnected")
        body = await lp.get()
        assert body["status"] == 410 and body["messages"] == []
        assert body["token"] != old
        assert await lp.post(frame(vsn, "room:a", "new_msg", {}, "3")) == 410


async def test_draining_the_server_ends_long_poll_sessions_too() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        await lp.join("room:drain")
        assert len(server.hub.connection_pids()) == 1  # sessions are not counted as connections
        for pid in server.hub.connection_pids():
            pid.cast("drain")
        assert await server.events.wait_for("terminate", "room:drain") == ("shutdown", "drain")
        async with asyncio.timeout(2.0):
            while server.hub.connection_pids():
                await asyncio.sleep(0.01)
        assert (await lp.get())["status"] == 410


async def test_an_unsupported_vsn_answers_403_and_logs_the_mismatch(caplog: Any) -> None:
    async with client() as (server, http):
        assert await LongPoll(http, server.url, vsn="123.1.1").get() == {"status": 403}
    assert "does not match server's version requirements" in caplog.text


@BOTH
async def test_a_post_with_an_empty_content_type_is_one_json_frame(vsn: str) -> None:
    join_ref = "1" if vsn == V2 else None
    async with client() as (server, http):
        lp = LongPoll(http, server.url, vsn=vsn)
        await lp.open()
        await lp.join("room:ct", join_ref=join_ref)
        leave = frame(vsn, "room:ct", "phx_leave", {}, "2", join_ref)
        assert await lp.post(leave, headers={"Content-Type": ""}) == 200
        assert [m[3] for m in await lp.collect(2)] == ["phx_reply", "phx_close"]


# --- §6.3 extras and our own rules ----------------------------------------------------------


async def test_the_token_header_wins_over_a_bogus_token_query_param() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        query = [("vsn", V1), ("token", "bogus")]
        body = await lp.request(
            "GET", query=query, headers={"X-Phoenix-Longpoll-Token": lp.token or ""}
        )
        assert body == {"status": 204, "token": lp.token, "messages": []}
        # Without the header the bogus param is all there is: a new session.
        assert (await lp.request("GET", query=query))["status"] == 410


async def test_the_last_token_query_param_wins_over_a_connect_param_named_token() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        query = [("token", "user-param"), ("vsn", V1), ("token", lp.token or "")]
        assert (await lp.request("GET", query=query))["status"] == 204


async def test_a_token_minted_at_one_mount_is_not_valid_at_another() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url, "/ws")
        await lp.open()
        admin = LongPoll(http, server.url, "/ws/admin")
        admin.token = lp.token
        assert await admin.post(frame(V1, "room:lobby", "phx_join", {}, "1")) == 410
        body = await admin.get()
        assert body["status"] == 410 and body["token"] != lp.token


async def test_a_post_with_an_unknown_token_answers_410() -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url)
        lp.token = "not.a-token"
        assert await lp.post(frame(V1, "room:lobby", "phx_join", {}, "1")) == 410


async def test_options_preflight_answers_cors_headers_with_an_empty_body() -> None:
    async with client() as (server, http):
        asked = {"Access-Control-Request-Headers": "x-phoenix-longpoll-token, content-type"}
        async with http.options(f"{server.url}/ws/longpoll", headers=asked) as resp:
            assert resp.status == 200
            assert await resp.read() == b""
            assert resp.headers["access-control-allow-origin"] == "*"
            assert (
                resp.headers["access-control-allow-headers"]
                == asked["Access-Control-Request-Headers"]
            )
            assert resp.headers["access-control-allow-methods"] == "get, post, options"
            assert resp.headers["access-control-max-age"] == "3600"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_methods_other_than_get_post_options_get_400_with_an_empty_body(method: str) -> None:
    async with (
        client() as (server, http),
        http.request(method, f"{server.url}/ws/longpoll") as resp,
    ):
        assert resp.status == 400
        assert await resp.read() == b""


async def test_binary_frames_from_the_server_are_dropped_with_a_warning(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "bitnexus.channels")
    async with client() as (server, http):
        lp = LongPoll(http, server.url, vsn=V2)
        await lp.open()
        await lp.join("room:bin", join_ref="1")
        # binary_event pushes binary and replies binary: neither can travel.
        push = binary_push("1", "2", "room:bin", "binary_event", b"\x01\x02")
        assert await lp.post(push, ndjson=True) == 200
        server.hub.broadcast("room:bin", "blob", b"\x05")  # a fastlaned binary broadcast
        assert await lp.post(frame(V2, "room:bin", "new_msg", {"body": "text"}, "3", "1")) == 200
        (only,) = await lp.collect(1)
        assert only[3] == "new_msg"
    assert "long poll carries text only" in caplog.text


@BOTH
async def test_an_undecodable_frame_ends_the_session_and_answers_400(vsn: str) -> None:
    async with client() as (server, http):
        lp = LongPoll(http, server.url, vsn=vsn)
        await lp.open()
        await lp.join("room:bad", join_ref="1")
        assert await lp.post('["only", "three", "fields"]') == 400
        assert await server.events.wait_for("terminate", "room:bad") == ("shutdown", "closed")
        assert await lp.post(frame(vsn, "room:bad", "new_msg", {}, "2")) == 410
        assert (await lp.get())["status"] == 410


async def test_frames_before_a_bad_ndjson_line_are_processed_and_later_ones_are_not() -> None:
    async with client() as (server, http):
        lobby = collector(server, "room:lobby")
        lp = LongPoll(http, server.url, vsn=V2)
        await lp.open()
        await lp.join("room:lobby", join_ref="1")
        ok = frame(V2, "room:lobby", "new_msg", {"body": "ok"}, "2", "1")
        late = frame(V2, "room:lobby", "new_msg", {"body": "late"}, "3", "1")
        assert await lp.post(ok, "!!not base64!!", late, ndjson=True) == 400
        await server.events.wait_for("terminate", "room:lobby")
        assert bodies(lobby) == ["ok"]


async def test_a_body_over_the_limit_answers_413_and_keeps_the_session() -> None:
    async with client(longpoll_max_body=200) as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        assert await lp.post(frame(V1, "room:lobby", "new_msg", {"body": "x" * 300}, "1")) == 413
        assert await lp.post(frame(V1, "room:lobby", "phx_join", {}, "2")) == 200


async def test_a_body_over_aiohttps_default_size_but_under_the_limit_is_accepted() -> None:
    async with client() as (server, http):
        lobby = collector(server, "room:lobby")
        lp = LongPoll(http, server.url)
        await lp.open()
        await lp.join("room:lobby")
        big = "x" * 1_500_000
        assert await lp.post(frame(V1, "room:lobby", "new_msg", {"body": big}, "2")) == 200
        await lobby.wait(lambda seen: bodies(lobby) == [big])


async def test_a_newer_poll_replaces_a_waiting_one_which_answers_204() -> None:
    async with client(longpoll_window=2.0) as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        first = asyncio.create_task(lp.get())
        await asyncio.sleep(0.1)
        second = asyncio.create_task(lp.get())
        body = await asyncio.wait_for(first, 1.0)
        assert body == {"status": 204, "token": lp.token, "messages": []}
        assert await lp.post(frame(V1, "room:lobby", "phx_join", {}, "1")) == 200
        assert (await asyncio.wait_for(second, 1.0))["status"] == 200


async def test_a_waiting_poll_is_answered_as_soon_as_a_message_is_buffered() -> None:
    async with client(longpoll_window=5.0) as (server, http):
        lp = LongPoll(http, server.url)
        await lp.open()
        waiting = asyncio.create_task(lp.get())
        await asyncio.sleep(0.05)
        assert await lp.post(frame(V1, "phoenix", "heartbeat", {}, "7")) == 200
        body = await asyncio.wait_for(waiting, 1.0)
        assert body["status"] == 200
        assert [parse(m) for m in body["messages"]] == [
            (None, "7", "phoenix", "phx_reply", {"status": "ok", "response": {}})
        ]


# --- session tokens ----------------------------------------------------------------------------

NOW = 1_700_000_000.0


def test_a_token_verifies_at_its_own_mount_and_node_only() -> None:
    tokens = SessionTokens(b"k" * 32, "/socket", 1)
    token = tokens.sign(42, "sid", now=NOW)
    assert tokens.verify(token, now=NOW) == (42, "sid")
    assert SessionTokens(b"k" * 32, "/other", 1).verify(token, now=NOW) is None
    assert SessionTokens(b"k" * 32, "/socket", 2).verify(token, now=NOW) is None
    assert SessionTokens(b"q" * 32, "/socket", 1).verify(token, now=NOW) is None


def test_a_token_expires_after_fourteen_days() -> None:
    tokens = SessionTokens(b"k" * 32, "/socket", 1)
    token = tokens.sign(1, "sid", now=NOW)
    assert tokens.verify(token, now=NOW + TOKEN_MAX_AGE - 1) == (1, "sid")
    assert tokens.verify(token, now=NOW + TOKEN_MAX_AGE + 1) is None


def test_a_token_issued_in_the_future_or_tampered_with_is_invalid() -> None:
    tokens = SessionTokens(b"k" * 32, "/socket", 1)
    assert tokens.verify(tokens.sign(1, "sid", now=NOW + 60), now=NOW) is None
    payload, mac = tokens.sign(1, "sid", now=NOW).split(".")
    forged_payload = orjson.dumps([1, 2, "sid", int(NOW * 1000)])
    forged = base64.urlsafe_b64encode(forged_payload).rstrip(b"=").decode()
    assert tokens.verify(f"{forged}.{mac}", now=NOW) is None
    for junk in (None, "", "abc", "a.b.c", f"{payload}.", f".{mac}"):
        assert tokens.verify(junk, now=NOW) is None
