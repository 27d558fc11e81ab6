"""The Actor behaviour: callback results, the closed result set, callback
timeouts (GS-6), default callbacks (GS-4) and the helpers on ``self``."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from bitnexus.actors import (
    Actor,
    Down,
    From,
    Ignore,
    Node,
    NoReply,
    Pid,
    Reply,
    Stop,
    Timeout,
)
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import BadCallbackResult, Misuse, ProcessExited, StartError

_UNSET: Any = object()


class Scripted(Actor):
    """Returns what the test configured from each callback and reports every
    message and ``terminate`` to ``report``. ``awaits`` makes each callback
    suspend once first, so results come back through the task path."""

    def __init__(
        self,
        report: Pid[Any] | None = None,
        *,
        awaits: bool = False,
        init: Any = None,
        call: Any = _UNSET,
        cast: Any = None,
        info: Any = None,
    ) -> None:
        self.report = report
        self.awaits = awaits
        self.results = {"init": init, "call": call, "cast": cast, "info": info}

    async def _result(self, callback: str, message: Any) -> Any:
        if self.report is not None and callback != "init":
            self.report.send((callback, message))
        if self.awaits:
            await asyncio.sleep(0)
        result = self.results[callback]
        if result is _UNSET:
            return Reply(message)
        return result(self, message) if callable(result) else result

    async def init(self) -> Any:
        return await self._result("init", None)

    async def handle_call(self, request: Any, from_: From) -> Any:
        return await self._result("call", request)

    async def handle_cast(self, message: Any) -> Any:
        return await self._result("cast", message)

    async def handle_info(self, message: Any) -> Any:
        return await self._result("info", message)

    async def terminate(self, reason: Any) -> None:
        if self.report is not None:
            self.report.send(("terminate", reason))


def is_down(message: Any) -> bool:
    return isinstance(message, Down)


# --- the closed set of results -------------------------------------------------------


async def test_reply_answers_the_caller_with_its_value(node: Node) -> None:
    pid = await node.start(Scripted, call=lambda _self, req: Reply(req * 2))
    assert await pid.call(21) == 42


async def test_noreply_lets_the_actor_answer_later_with_from_reply(node: Node) -> None:
    class Later(Actor):
        def __init__(self) -> None:
            self.waiting: From | None = None

        async def handle_call(self, request: Any, from_: From) -> Any:
            self.waiting = from_
            return NoReply()

        async def handle_cast(self, message: Any) -> None:
            assert self.waiting is not None
            self.waiting.reply(message)

    pid = await node.start(Later)
    call = asyncio.ensure_future(pid.call("question"))
    await asyncio.sleep(0.01)
    assert not call.done()
    pid.cast("answer")
    assert await asyncio.wait_for(call, 1.0) == "answer"


async def test_stop_with_reply_answers_then_runs_terminate_and_exits_with_the_reason(
    node: Node, probe: Probe
) -> None:
    reason = ("shutdown", "done")
    pid = await node.start(Scripted, probe.pid, call=Stop(reason, reply="bye"))
    probe.monitor(pid)
    assert await pid.call("stop") == "bye"
    assert await probe.receive() == ("call", "stop")
    assert await probe.receive() == ("terminate", reason)
    down = await probe.receive()
    assert isinstance(down, Down) and down.reason == reason
    assert not pid.alive


async def test_stop_without_reply_in_handle_call_fails_the_caller_with_the_reason(
    node: Node,
) -> None:
    pid = await node.start(Scripted, call=Stop("enough"))
    with pytest.raises(ProcessExited) as raised:
        await pid.call("stop")
    assert raised.value.pid == pid
    assert raised.value.reason == "enough"


@pytest.mark.parametrize("result", [None, NoReply()], ids=["none", "noreply"])
@pytest.mark.parametrize("awaits", [False, True], ids=["sync", "awaiting"])
async def test_cast_and_info_returning_none_or_noreply_keep_the_process_running(
    node: Node, result: Any, awaits: bool
) -> None:
    pid = await node.start(Scripted, awaits=awaits, cast=result, info=result)
    pid.cast("c")
    pid.send("i")
    assert await pid.call("still alive?") == "still alive?"


@pytest.mark.parametrize("callback", ["cast", "info"])
@pytest.mark.parametrize("awaits", [False, True], ids=["sync", "awaiting"])
async def test_stop_from_a_cast_or_info_runs_terminate_and_exits_with_the_reason(
    node: Node, probe: Probe, callback: str, awaits: bool
) -> None:
    pid = await node.start(Scripted, probe.pid, awaits=awaits, **{callback: Stop("finished")})
    ref = probe.monitor(pid)
    pid.cast("go") if callback == "cast" else pid.send("go")
    assert await probe.receive() == (callback, "go")
    assert await probe.receive() == ("terminate", "finished")
    assert await probe.receive() == Down(ref, pid, "finished")


BAD_RESULTS = [
    pytest.param("call", None, "handle_call", "Reply(value", id="call-none"),
    pytest.param("call", "ok", "handle_call", "Stop(reason", id="call-string"),
    pytest.param("call", Ignore(), "handle_call", "NoReply(", id="call-ignore"),
    pytest.param("cast", 42, "handle_cast", "None, NoReply(", id="cast-int"),
    pytest.param("cast", Reply(1), "handle_cast", "Stop(reason)", id="cast-reply"),
    pytest.param("cast", Ignore(), "handle_cast", "NoReply(", id="cast-ignore"),
    pytest.param("info", ("noreply", {}), "handle_info", "None, NoReply(", id="info-tuple"),
    pytest.param("info", Reply(1), "handle_info", "Stop(reason)", id="info-reply"),
]


@pytest.mark.parametrize(("trigger", "bad", "callback", "shapes"), BAD_RESULTS)
@pytest.mark.parametrize("awaits", [False, True], ids=["sync", "awaiting"])
async def test_a_result_outside_the_closed_set_crashes_naming_the_callback_and_shapes(
    node: Node, probe: Probe, trigger: str, bad: Any, callback: str, shapes: str, awaits: bool
) -> None:
    pid = await node.start(Scripted, awaits=awaits, **{trigger: bad})
    probe.monitor(pid)
    if trigger == "call":
        with pytest.raises(ProcessExited) as raised:
            await pid.call("x")
        assert isinstance(raised.value.reason, BadCallbackResult)
    elif trigger == "cast":
        pid.cast("x")
    else:
        pid.send("x")
    down = await probe.receive(match=Down)
    error = down.reason
    assert isinstance(error, BadCallbackResult)
    assert error.callback == callback
    assert error.got == bad
    assert f"Scripted.{callback} returned" in str(error)
    assert shapes in str(error)


@pytest.mark.parametrize("awaits", [False, True], ids=["sync", "awaiting"])
async def test_init_returning_something_else_fails_the_start_with_bad_callback_result(
    node: Node, awaits: bool
) -> None:
    with pytest.raises(StartError) as raised:
        await node.start(Scripted, awaits=awaits, init={"ok": "state"})
    error = raised.value.reason
    assert isinstance(error, BadCallbackResult)
    assert error.callback == "init"
    assert "Ignore()" in str(error)
    assert len(node) == 0


# --- callback timeouts (GS-6) ----------------------------------------------------------


async def test_a_reply_timeout_delivers_timeout_to_handle_info_when_nothing_arrives(
    node: Node, probe: Probe
) -> None:
    pid = await node.start(Scripted, probe.pid, call=Reply("ok", timeout=0.05))
    started = time.monotonic()
    assert await pid.call("arm") == "ok"
    assert await probe.receive() == ("call", "arm")
    assert await probe.receive() == ("info", Timeout)
    assert time.monotonic() - started >= 0.045


@pytest.mark.parametrize("how", ["send", "cast", "call"])
async def test_a_message_arriving_before_the_timeout_cancels_it(
    node: Node, probe: Probe, how: str
) -> None:
    def on_call(_self: Any, request: Any) -> Any:
        return Reply("armed", timeout=0.1) if request == "arm" else Reply("pong")

    pid = await node.start(Scripted, probe.pid, call=on_call)
    await pid.call("arm")
    await asyncio.sleep(0.02)
    if how == "call":
        assert await pid.call("ping") == "pong"
    else:
        getattr(pid, how)("ping")
    assert await probe.receive(match=lambda m: m[1] == "ping")
    await probe.refute_receive(timeout=0.2, match=lambda m: m == ("info", Timeout))


async def test_the_timeout_fires_once_unless_the_handler_sets_it_again(
    node: Node, probe: Probe
) -> None:
    rearm = {"left": 2}

    def on_info(_self: Any, message: Any) -> Any:
        if message is Timeout and rearm["left"]:
            rearm["left"] -= 1
            return NoReply(timeout=0.02)
        return None

    pid = await node.start(Scripted, probe.pid, call=Reply("ok", timeout=0.02), info=on_info)
    await pid.call("arm")
    await probe.receive(match=lambda m: m == ("call", "arm"))
    for _ in range(3):
        assert await probe.receive() == ("info", Timeout)
    await probe.refute_receive(timeout=0.1)


async def test_init_may_return_noreply_with_a_timeout(node: Node, probe: Probe) -> None:
    await node.start(Scripted, probe.pid, init=NoReply(timeout=0.02))
    assert await probe.receive() == ("info", Timeout)


async def test_a_timeout_from_a_handler_that_awaited_still_fires(node: Node, probe: Probe) -> None:
    pid = await node.start(Scripted, probe.pid, awaits=True, cast=NoReply(timeout=0.02))
    pid.cast("arm")
    assert await probe.receive() == ("cast", "arm")
    assert await probe.receive() == ("info", Timeout)


async def test_a_timeout_does_not_fire_after_the_process_stopped(node: Node, probe: Probe) -> None:
    pid = await node.start(Scripted, probe.pid, cast=NoReply(timeout=0.05))
    pid.cast("arm")
    await node.stop(pid)
    await probe.refute_receive(timeout=0.15, match=lambda m: m == ("info", Timeout))


# --- default callbacks (GS-4) ------------------------------------------------------------


class Bare(Actor):
    pass


async def test_the_default_handle_info_logs_the_unexpected_message_and_keeps_running(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    pid = await node.start(Bare)
    with caplog.at_level(logging.WARNING, logger="bitnexus.actors"):
        pid.send("surprise")
        await asyncio.sleep(0.01)
    messages = [r.getMessage() for r in caplog.records]
    assert any("surprise" in m and "unexpected" in m for m in messages)
    assert pid.alive


async def test_an_actor_without_handle_call_crashes_when_called(node: Node) -> None:
    pid = await node.start(Bare)
    with pytest.raises(ProcessExited) as raised:
        await pid.call("hello")
    assert isinstance(raised.value.reason, NotImplementedError)
    assert not pid.alive


async def test_an_actor_without_handle_cast_crashes_when_cast_to(node: Node, probe: Probe) -> None:
    pid = await node.start(Bare)
    probe.monitor(pid)
    pid.cast("hello")
    down = await probe.receive(match=Down)
    assert isinstance(down.reason, NotImplementedError)


# --- construction and helpers ---------------------------------------------------------------


class Counter(Actor):
    def __init__(self, start: int = 0, *, step: int = 1) -> None:
        self.count = start
        self.step = step

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "whoami":
            return Reply((self.pid, self.node))
        return Reply(self.count)

    async def handle_cast(self, message: Any) -> None:
        self.count += self.step


async def test_constructor_arguments_come_from_spawn_and_state_lives_on_self(node: Node) -> None:
    a = node.spawn(Counter, 10, step=5)
    b = node.spawn(Counter(100))
    a.cast("tick")
    a.cast("tick")
    b.cast("tick")
    assert await a.call("get") == 20
    assert await b.call("get") == 101


async def test_self_pid_and_self_node_are_the_process_own(node: Node) -> None:
    pid = node.spawn(Counter)
    assert await pid.call("whoami") == (pid, node)


async def test_spawning_something_that_is_not_an_actor_is_misuse(node: Node) -> None:
    with pytest.raises(Misuse):
        node.spawn(object)  # type: ignore[arg-type]
    assert len(node) == 0


async def test_send_after_delivers_to_handle_info_later_and_can_be_cancelled(
    node: Node, probe: Probe
) -> None:
    def on_call(self: Scripted, request: Any) -> Any:
        handle = self.send_after(0.03, ("later", request))
        if request == "cancel":
            handle.cancel()
        return Reply("armed")

    pid = await node.start(Scripted, probe.pid, call=on_call)
    await pid.call("keep")
    await pid.call("cancel")
    assert await probe.receive(match=lambda m: m[0] == "info") == ("info", ("later", "keep"))
    await probe.refute_receive(timeout=0.1, match=lambda m: m[0] == "info")


async def test_set_label_shows_in_the_process_info(node: Node) -> None:
    def on_cast(self: Scripted, message: Any) -> None:
        self.set_label(("channel", message))

    pid = await node.start(Scripted, cast=on_cast)
    pid.cast("room:42")
    await pid.call("sync")
    info = node.info(pid)
    assert info is not None and info.label == ("channel", "room:42")


async def test_the_kind_class_attribute_names_the_process_in_snapshots(node: Node) -> None:
    class Channelish(Counter):
        kind = "channel"

    pid = node.spawn(Channelish)
    plain = node.spawn(Counter)
    kinds = {info.pid: info.kind for info in node.processes()}
    assert kinds[pid] == "channel"
    assert kinds[plain] == "worker"
