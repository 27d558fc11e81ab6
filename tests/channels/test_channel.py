"""Channel and ChannelSocket semantics (reference section 2, S15-S41), driven
through a real connection process with the channel test helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bitnexus.actors import Actor, Pid
from bitnexus.channels import (
    Channel,
    ChannelSocket,
    Error,
    NoReply,
    Ok,
    Reply,
    ReplyRef,
    Socket,
    SocketState,
    Stop,
)
from bitnexus.channels.testing import ANY, ChannelCase, TestSocket, channel_test
from bitnexus.exceptions import BadCallbackResult, Misuse


class LateReplier(Actor):
    """Another process that answers a pushed message later, twice (S28)."""

    async def handle_info(self, message: Any) -> None:
        ref: ReplyRef = message
        ref.reply("ok", {"n": 1})
        ref.reply("ok", {"n": 2})


class RoomChannel(Channel):
    intercept = ("censored", "decorated", "out_bad")

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        journal = socket.handler.journal
        journal.append(("join", topic, payload, dict(socket.assigns), self.pid))
        mode = payload.get("mode")
        if mode == "refuse":
            return Error({"reason": "unauthorized"})
        if mode == "crash":
            raise RuntimeError("join crashed on purpose")
        if mode == "bad":
            return "yes please"
        if mode == "none":
            return None
        if mode == "push_in_join":
            for attempt in (socket.push, socket.broadcast):
                try:
                    attempt("early", {})
                except Misuse as exc:
                    journal.append(("misuse_in_join", str(exc)))
        if mode in ("after_join", "push_in_join"):
            self.pid.send("after_join")
        socket.assign(name=payload.get("name"))
        return Ok({"welcome": payload.get("name")})

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "echo":
            return Reply("ok", payload)
        if event == "fail":
            return Reply("error", {"reason": "nope"})
        if event == "silent":
            return NoReply()
        if event == "none":
            return None
        if event == "assigns":
            return Reply("ok", dict(socket.assigns))
        if event == "assign":
            socket.assign(**payload)
            return Reply("ok", {})
        if event == "stop_normal":
            return Stop("normal", reply=Reply("ok", {"bye": True}))
        if event == "stop_boom":
            return Stop("boom", reply=Reply("error", {"why": "boom"}))
        if event == "bad_result":
            return 42
        if event == "raise":
            raise RuntimeError("handle_in crashed on purpose")
        if event == "async_reply":
            socket.handler.replier.send(socket.reply_ref())
            return NoReply()
        if event == "push":
            socket.push(payload["event"], payload["payload"])
            return None
        if event == "push_bytes":
            socket.push("bin", b"\x00\x01\x02")
            return None
        if event == "push_not_a_map":
            try:
                socket.push("list", [1, 2, 3])
            except Misuse as exc:
                return Reply("error", {"misuse": str(exc)})
            return Reply("ok", {})
        if event == "broadcast":
            socket.broadcast(payload["event"], payload["payload"])
            return None
        if event == "broadcast_from":
            socket.broadcast_from(payload["event"], payload["payload"])
            return None
        if event == "burst":
            for i in range(30):
                socket.push("seq", {"i": i})
                if i % 7 == 0:
                    socket.broadcast("seq", {"i": i, "broadcast": True})
            return None
        if event == "info":
            self.pid.send(payload["message"])
            return None
        raise AssertionError(f"unexpected event {event}")

    async def handle_out(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "censored":
            if not payload.get("bad"):
                socket.push(event, payload)
            return None
        if event == "decorated":
            socket.push(event, {**payload, "seen_by": socket.assigns.get("name")})
            return None
        return "not a valid handle_out result"

    async def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        if message == "after_join":
            socket.push("welcome", {"name": socket.assigns.get("name")})
            socket.broadcast("arrived", {"name": socket.assigns.get("name")})
            return None
        if message == "stop":
            return Stop(("shutdown", "done"))
        if message == "bad":
            return 7
        if message == "reply_ref":
            try:
                socket.reply_ref()
            except Misuse:
                socket.push("reply_ref_refused", {})
            return None
        return None

    async def terminate(self, reason: Any, socket: ChannelSocket) -> None:
        socket.handler.journal.append(("terminate", socket.topic, reason))
        socket.push("terminated", {})


class AppSocket(Socket):
    channels = [("room:*", RoomChannel)]

    def __init__(self) -> None:
        self.journal: list[Any] = []
        self.replier: Pid[Any] | None = None

    async def connect(self, params: dict[str, Any], connect_info: dict[str, Any]) -> Any:
        return {"user_id": params.get("user_id", "u1")}

    def id(self, socket: SocketState) -> str | None:
        return f"user:{socket.assigns['user_id']}"


def terminations(handler: AppSocket) -> list[Any]:
    return [entry[1:] for entry in handler.journal if entry[0] == "terminate"]


async def exit_reason(ct: ChannelCase, pid: Pid[Any]) -> Any:
    return await ct.exit_reason(pid)


def frame_index(socket: TestSocket, **fields: Any) -> int:
    for i, frame in enumerate(socket.frames):
        if all(getattr(frame, key) == value for key, value in fields.items()):
            return i
    raise AssertionError(f"no frame with {fields}: {[str(f) for f in socket.frames]}")


@pytest.fixture
async def ct() -> AsyncIterator[ChannelCase]:
    async with channel_test() as case:
        yield case


@pytest.fixture
async def socket(ct: ChannelCase) -> TestSocket:
    return await ct.connect(AppSocket, {"user_id": "u7"})


# --- join (S15-S18, S21) ---------------------------------------------------------


async def test_join_ok_reply_carries_the_join_response_and_echoes_both_refs(ct, socket):
    reply = await ct.subscribe_and_join(socket, "room:1", {"name": "ada"})
    assert (reply.status, reply.response) == ("ok", {"welcome": "ada"})
    assert reply.ref == reply.join_ref is not None
    assert socket.channel_pid("room:1") is not None


async def test_join_returning_none_replies_ok_with_an_empty_map(ct, socket):
    reply = await ct.join(socket, "room:1", {"mode": "none"})
    assert (reply.status, reply.response) == ("ok", {})


async def test_refused_join_replies_error_with_the_map_and_leaves_no_channel(ct, socket):
    reply = await ct.join(socket, "room:1", {"mode": "refuse"})
    assert (reply.status, reply.response) == ("error", {"reason": "unauthorized"})
    pid = socket.handler.journal[0][4]
    assert await exit_reason(ct, pid) == ("shutdown", "join_refused")
    assert socket.channel_pid("room:1") is None
    await ct.refute_push("phx_close")
    ref = ct.push(socket, "room:1", "echo", {})
    await ct.assert_reply(ref, "error", {"reason": "unmatched topic"})
    assert terminations(socket.handler) == []


async def test_crashing_join_replies_join_crashed(ct, socket):
    reply = await ct.join(socket, "room:1", {"mode": "crash"})
    assert (reply.status, reply.response) == ("error", {"reason": "join crashed"})
    assert isinstance(await exit_reason(ct, socket.handler.journal[0][4]), RuntimeError)


async def test_join_with_a_bad_result_crashes_with_bad_callback_result_naming_join(ct, socket):
    reply = await ct.join(socket, "room:1", {"mode": "bad"})
    assert (reply.status, reply.response) == ("error", {"reason": "join crashed"})
    reason = await exit_reason(ct, socket.handler.journal[0][4])
    assert isinstance(reason, BadCallbackResult)
    assert reason.callback == "join" and "RoomChannel.join" in str(reason)


async def test_join_sees_the_payload_and_the_connect_assigns(ct, socket):
    await ct.join(socket, "room:1", {"name": "ada", "last_seen": 3})
    _, topic, payload, assigns, _ = socket.handler.journal[0]
    assert topic == "room:1"
    assert payload == {"name": "ada", "last_seen": 3}
    assert assigns == {"user_id": "u7"}


async def test_assigns_set_in_join_are_visible_later_and_stay_in_that_channel(ct, socket):
    await ct.join(socket, "room:1", {"name": "ada"})
    await ct.join(socket, "room:2", {"name": "bob"})
    ref = ct.push(socket, "room:1", "assign", {"color": "red"})
    await ct.assert_reply(ref)
    ref = ct.push(socket, "room:1", "assigns", {})
    await ct.assert_reply(ref, "ok", {"user_id": "u7", "name": "ada", "color": "red"})
    ref = ct.push(socket, "room:2", "assigns", {})
    await ct.assert_reply(ref, "ok", {"user_id": "u7", "name": "bob"})
    assert socket.assigns == {"user_id": "u7"}


async def test_push_and_broadcast_inside_join_raise_misuse(ct, socket):
    reply = await ct.subscribe_and_join(socket, "room:1", {"mode": "push_in_join", "name": "ada"})
    assert reply.status == "ok"
    misuses = [entry[1] for entry in socket.handler.journal if entry[0] == "misuse_in_join"]
    assert len(misuses) == 2
    assert "push" in misuses[0] and "broadcast" in misuses[1]
    assert all("before the join finished" in text for text in misuses)
    await ct.refute_push("early")


async def test_after_join_pattern_pushes_after_the_join_reply(ct, socket):
    reply = await ct.subscribe_and_join(socket, "room:1", {"mode": "after_join", "name": "ada"})
    await ct.assert_push("welcome", {"name": "ada"}, topic="room:1")
    await ct.assert_broadcast("room:1", "arrived", {"name": "ada"})
    await ct.assert_push("arrived", {"name": "ada"})
    assert frame_index(socket, ref=reply.ref, kind="reply") < frame_index(socket, event="welcome")
    assert frame_index(socket, event="welcome") < frame_index(socket, event="arrived")


# --- handle_in results (S27-S29, S39, S40) ----------------------------------------


async def test_reply_result_answers_with_the_message_ref_and_the_channel_join_ref(ct, socket):
    join = await ct.join(socket, "room:1", {})
    ref = ct.push(socket, "room:1", "echo", {"body": "hi"})
    reply = await ct.assert_reply(ref, "ok", {"body": "hi"})
    assert reply.join_ref == join.ref and reply.topic == "room:1"
    ref = ct.push(socket, "room:1", "fail", {})
    await ct.assert_reply(ref, "error", {"reason": "nope"})


async def test_noreply_and_none_send_nothing(ct, socket):
    await ct.join(socket, "room:1", {})
    silent = ct.push(socket, "room:1", "silent", {})
    quiet = ct.push(socket, "room:1", "none", {})
    ref = ct.push(socket, "room:1", "echo", {})
    await ct.assert_reply(ref)  # handled in order, so the first two are done
    await ct.refute_reply(silent)
    await ct.refute_reply(quiet)
    assert ct.pending == []


async def test_stop_with_reply_sends_the_reply_then_phx_close_then_terminates(ct, socket):
    join = await ct.join(socket, "room:1", {})
    pid = socket.channel_pid("room:1")
    ref = ct.push(socket, "room:1", "stop_normal", {})
    reply = await ct.assert_reply(ref, "ok", {"bye": True})
    close = await ct.assert_push("phx_close", {}, topic="room:1")
    assert close.ref == close.join_ref == join.ref
    assert await exit_reason(ct, pid) == "normal"
    assert terminations(socket.handler) == [("room:1", "normal")]
    assert frame_index(socket, ref=reply.ref) < frame_index(socket, event="phx_close")
    await ct.refute_push("phx_error")


async def test_stop_with_an_abnormal_reason_sends_the_reply_then_phx_error(ct, socket):
    join = await ct.join(socket, "room:1", {})
    pid = socket.channel_pid("room:1")
    ref = ct.push(socket, "room:1", "stop_boom", {})
    await ct.assert_reply(ref, "error", {"why": "boom"})
    error = await ct.assert_push("phx_error", {"reason": "channel_crash"}, topic="room:1")
    assert error.ref == error.join_ref == join.ref
    assert await exit_reason(ct, pid) == "boom"
    await ct.refute_push("phx_close")


async def test_stop_from_handle_info_closes_the_channel_gracefully(ct, socket):
    await ct.join(socket, "room:1", {})
    pid = socket.channel_pid("room:1")
    ct.push(socket, "room:1", "info", {"message": "stop"})
    await ct.assert_push("phx_close", topic="room:1")
    assert await exit_reason(ct, pid) == ("shutdown", "done")
    assert terminations(socket.handler) == [("room:1", ("shutdown", "done"))]


@pytest.mark.parametrize(
    ("event", "payload", "callback"),
    [
        ("bad_result", {}, "handle_in"),
        ("info", {"message": "bad"}, "handle_info"),
        ("broadcast", {"event": "out_bad", "payload": {}}, "handle_out"),
    ],
)
async def test_a_bad_callback_result_crashes_with_bad_callback_result_naming_the_callback(
    ct, socket, event, payload, callback
):
    await ct.join(socket, "room:1", {})
    pid = socket.channel_pid("room:1")
    ct.push(socket, "room:1", event, payload)
    await ct.assert_push("phx_error", topic="room:1")
    reason = await exit_reason(ct, pid)
    assert isinstance(reason, BadCallbackResult)
    assert reason.callback == callback
    assert f"RoomChannel.{callback} returned" in str(reason)
    assert "expected one of" in str(reason)


async def test_async_reply_from_another_process_can_answer_twice_with_the_original_ref(ct, socket):
    socket.handler.replier = ct.node.spawn(LateReplier)
    join = await ct.join(socket, "room:1", {})
    ref = ct.push(socket, "room:1", "async_reply", {})
    first = await ct.assert_reply(ref, "ok", {"n": 1})
    second = await ct.assert_reply(ref, "ok", {"n": 2})
    assert first.join_ref == second.join_ref == join.ref


async def test_reply_ref_outside_handle_in_raises_misuse(ct, socket):
    await ct.join(socket, "room:1", {})
    ct.push(socket, "room:1", "info", {"message": "reply_ref"})
    await ct.assert_push("reply_ref_refused", {})


# --- push, broadcast, intercept (S30-S34) ------------------------------------------


async def test_push_sends_the_event_with_the_channel_join_ref_and_no_ref(ct, socket):
    join = await ct.join(socket, "room:1", {})
    ct.push(socket, "room:1", "push", {"event": "news", "payload": {"id": 1}})
    frame = await ct.assert_push("news", {"id": 1}, topic="room:1")
    assert (frame.kind, frame.ref, frame.join_ref) == ("push", None, join.ref)


async def test_push_payload_must_be_a_map_or_bytes(ct, socket):
    join = await ct.join(socket, "room:1", {})
    ref = ct.push(socket, "room:1", "push_not_a_map", {})
    reply = await ct.assert_reply(ref, "error")
    assert "must be a dict" in reply.response["misuse"]
    ct.push(socket, "room:1", "push_bytes", {})
    frame = await ct.assert_push("bin", b"\x00\x01\x02")
    assert (frame.opcode, frame.join_ref) == ("binary", join.ref)


async def test_broadcast_reaches_the_sender_own_client_and_every_other_subscriber(ct, socket):
    other = await ct.connect(AppSocket, {"user_id": "u8"})
    await ct.subscribe_and_join(socket, "room:1", {})
    await ct.join(other, "room:1", {})
    ct.push(socket, "room:1", "broadcast", {"event": "news", "payload": {"id": 1}})
    mine = await ct.assert_push("news", {"id": 1}, socket=socket)
    theirs = await ct.assert_push("news", {"id": 1}, socket=other)
    assert mine.kind == theirs.kind == "broadcast"
    assert (mine.ref, mine.join_ref) == (None, None)
    await ct.assert_broadcast("room:1", "news", {"id": 1})


async def test_broadcast_from_skips_the_sending_channel_only(ct, socket):
    other = await ct.connect(AppSocket, {"user_id": "u8"})
    await ct.subscribe_and_join(socket, "room:1", {})
    await ct.join(other, "room:1", {})
    ct.push(socket, "room:1", "broadcast_from", {"event": "news", "payload": {"id": 1}})
    await ct.assert_push("news", {"id": 1}, socket=other)
    await ct.assert_broadcast("room:1", "news", {"id": 1})
    await ct.refute_push("news", socket=socket)


async def test_broadcast_from_skips_the_sender_on_the_intercept_path_too(ct, socket):
    other = await ct.connect(AppSocket, {"user_id": "u8"})
    await ct.join(socket, "room:1", {"name": "ada"})
    await ct.join(other, "room:1", {"name": "bob"})
    ct.push(socket, "room:1", "broadcast_from", {"event": "decorated", "payload": {"id": 1}})
    await ct.assert_push("decorated", {"id": 1, "seen_by": "bob"}, socket=other)
    await ct.refute_push("decorated", socket=socket)


async def test_intercepted_broadcasts_go_through_handle_out_which_can_modify_them(ct, socket):
    join = await ct.join(socket, "room:1", {"name": "ada"})
    ct.broadcast_from_outside("room:1", "decorated", {"id": 1})
    frame = await ct.assert_push("decorated", {"id": 1, "seen_by": "ada"})
    assert (frame.kind, frame.join_ref) == ("push", join.ref)


async def test_handle_out_can_filter_intercepted_broadcasts(ct, socket):
    await ct.join(socket, "room:1", {})
    ct.broadcast_from_outside("room:1", "censored", {"bad": True, "n": 1})
    ct.broadcast_from_outside("room:1", "censored", {"bad": False, "n": 2})
    await ct.assert_push("censored", {"bad": False, "n": 2})
    await ct.refute_push("censored")


async def test_pushes_and_broadcasts_from_one_channel_arrive_in_the_order_sent(ct, socket):
    await ct.join(socket, "room:1", {})
    ct.push(socket, "room:1", "burst", {})
    for i in range(30):
        await ct.assert_push("seq", {"i": i})
        if i % 7 == 0:
            await ct.assert_push("seq", {"i": i, "broadcast": True})
    seq = [(f.payload["i"], f.kind) for f in socket.frames if f.event == "seq"]
    expected = []
    for i in range(30):
        expected.append((i, "push"))
        if i % 7 == 0:
            expected.append((i, "broadcast"))
    assert seq == expected


async def test_broadcast_from_outside_reaches_every_channel_on_the_topic(ct, socket):
    other = await ct.connect(AppSocket, {"user_id": "u8"})
    await ct.join(socket, "room:1", {})
    await ct.join(other, "room:1", {})
    assert ct.broadcast_from_outside("room:1", "news", {"id": 9}) == 2
    await ct.assert_push("news", {"id": 9}, socket=socket)
    await ct.assert_push("news", {"id": 9}, socket=other)


# --- leave and close (S35, S41) ----------------------------------------------------


async def test_leave_replies_then_closes_then_terminates_with_shutdown_left(ct, socket):
    join = await ct.join(socket, "room:1", {})
    reply = await ct.leave(socket, "room:1")
    assert (reply.status, reply.response, reply.join_ref) == ("ok", {}, join.ref)
    close = await ct.assert_push("phx_close", {}, topic="room:1")
    assert close.ref == join.ref
    assert terminations(socket.handler) == [("room:1", ("shutdown", "left"))]
    events = [f.event for f in socket.frames if f.topic == "room:1"]
    assert events[-3:] == ["phx_reply", "phx_close", "terminated"]


async def test_closing_the_transport_terminates_channels_with_shutdown_closed(ct, socket):
    await ct.join(socket, "room:1", {})
    await ct.join(socket, "room:2", {})
    assert await ct.close(socket) == "normal"
    assert sorted(terminations(socket.handler)) == [
        ("room:1", ("shutdown", "closed")),
        ("room:2", ("shutdown", "closed")),
    ]
    assert [f.event for f in socket.transport.dropped] == ["terminated", "terminated"]


async def test_a_connection_killed_stops_its_channels_with_that_reason(ct, socket):
    await ct.join(socket, "room:1", {})
    pid = socket.channel_pid("room:1")
    ct.node.exit(socket.connection, "kill")
    assert await exit_reason(ct, pid) == "killed"


async def test_any_matches_whatever_the_channel_sent(ct, socket):
    await ct.join(socket, "room:1", {})
    ct.push(socket, "room:1", "push", {"event": "news", "payload": {"id": 1, "at": 12.5}})
    await ct.assert_push("news", {"id": 1, "at": ANY})
