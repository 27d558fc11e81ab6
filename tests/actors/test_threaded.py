"""ThreadActor: blocking handlers in their own thread behind an ordinary pid,
and the promise that the event loop never waits for them."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Any

import pytest

from bitnexus.actors import Actor, Down, From, Node, Pid, Reply, Stop, ThreadActor
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import BadCallbackResult, ProcessExited


class Boom(Exception):
    pass


class Keeper(ThreadActor):
    """Records in its thread what it did; calls drive it."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.threads: set[int] = set()
        self.stopped_with: list[Any] = []
        self.release = threading.Event()

    def on_start(self) -> None:
        self.threads.add(threading.get_ident())
        self.log.append("started")

    def handle_call(self, request: Any) -> Any:
        self.threads.add(threading.get_ident())
        match request:
            case "log":
                return Reply(list(self.log))
            case "whoami":
                return Reply(self.pid)
            case ("raise", error):
                raise error
            case ("stop", reason, reply):
                return Stop(reason, reply=reply)
            case "block":
                self.release.wait(5.0)
                return Reply("released")
            case "bad":
                return "not a Reply"
        return Reply(("echo", request))

    def handle_cast(self, message: Any) -> Any:
        self.threads.add(threading.get_ident())
        if isinstance(message, BaseException):
            raise message
        self.log.append(message)
        return None

    def on_stop(self, reason: Any) -> None:
        self.stopped_with.append(reason)


async def test_calls_and_casts_run_in_order_in_the_actor_thread(node: Node) -> None:
    keeper = Keeper()
    pid = await node.start(keeper)
    pid.cast("one")
    assert await pid.call("hello") == ("echo", "hello")
    pid.cast("two")
    assert await pid.call("log") == ["started", "one", "two"]
    assert await pid.call("whoami") == pid
    assert len(keeper.threads) == 1
    assert threading.get_ident() not in keeper.threads


async def test_a_thread_actor_shows_in_the_process_list_as_a_thread(node: Node) -> None:
    pid = await node.start(Keeper, name="keeper")
    (info,) = [i for i in node.processes() if i.pid == pid]
    assert info.kind == "thread"
    assert info.name == "keeper"
    assert info.summary == {"thread_actor": "Keeper"}
    assert info.actor.endswith(".Keeper")  # the user's class, not the bridge


async def test_a_raise_in_a_call_is_an_exit_seen_by_callers_and_monitors(
    node: Node, probe: Probe
) -> None:
    pid = await node.start(Keeper)
    ref = probe.monitor(pid)
    error = Boom("blocking sdk failed")
    with pytest.raises(ProcessExited) as raised:
        await pid.call(("raise", error))
    assert raised.value.reason is error
    assert await probe.receive() == Down(ref, pid, error)
    assert not pid.alive


async def test_a_raise_in_a_cast_is_an_exit_with_the_exception(node: Node, probe: Probe) -> None:
    pid = await node.start(Keeper)
    ref = probe.monitor(pid)
    error = Boom("cast failed")
    pid.cast(error)
    assert await probe.receive() == Down(ref, pid, error)


async def test_a_bad_result_from_a_thread_handler_crashes_naming_the_callback(
    node: Node,
) -> None:
    pid = await node.start(Keeper)
    with pytest.raises(ProcessExited) as raised:
        await pid.call("bad")
    assert isinstance(raised.value.reason, BadCallbackResult)
    assert raised.value.reason.callback == "handle_call"


async def test_kill_ends_the_process_at_once_while_the_thread_is_busy(
    node: Node, probe: Probe
) -> None:
    keeper = Keeper()
    pid = await node.start(keeper)
    ref = probe.monitor(pid)
    blocked = asyncio.ensure_future(pid.call("block", timeout=5.0))
    await asyncio.sleep(0.02)
    started = time.monotonic()
    node.exit(pid, "kill")
    assert not pid.alive
    with pytest.raises(ProcessExited) as raised:
        await blocked
    assert raised.value.reason == "killed"
    assert await probe.receive() == Down(ref, pid, "killed")
    assert time.monotonic() - started < 1.0
    keeper.release.set()  # the thread finishes its message, then stops


async def test_a_graceful_stop_runs_on_stop_in_the_thread(node: Node) -> None:
    keeper = Keeper()
    pid = await node.start(keeper)
    assert await node.stop(pid, ("shutdown", "bye")) == ("shutdown", "bye")
    assert keeper.stopped_with == [("shutdown", "bye")]


async def test_stop_from_a_thread_handler_replies_then_exits_with_the_reason(
    node: Node, probe: Probe
) -> None:
    keeper = Keeper()
    pid = await node.start(keeper)
    ref = probe.monitor(pid)
    assert await pid.call(("stop", "normal", "goodbye")) == "goodbye"
    assert await probe.receive() == Down(ref, pid, "normal")
    assert keeper.stopped_with == ["normal"]


# --- the event loop never waits -------------------------------------------------------------

HASH_SECONDS = 0.3  # per call: a blocking bridge would stall the loop this long
STOP_HASH_SECONDS = 0.15
MAX_LAG = 0.1
CHUNK = bytes(1 << 20)  # sha256 releases the GIL while hashing a buffer this size


def hash_for(seconds: float) -> float:
    """Hash for about ``seconds`` of wall time; return the time it took."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    while time.perf_counter() - started < seconds:
        digest.update(CHUNK)
    return time.perf_counter() - started


class Hasher(ThreadActor):
    def handle_call(self, request: Any) -> Any:
        return Reply(hash_for(request))

    def on_stop(self, reason: Any) -> None:
        hash_for(STOP_HASH_SECONDS)


class Echo(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        if request % 2:
            await asyncio.sleep(0)
        return Reply(request)


async def test_thread_actors_hashing_never_stall_the_event_loop(node: Node) -> None:
    loop = asyncio.get_running_loop()
    hashers = [await node.start(Hasher) for _ in range(3)]
    echoes = [await node.start(Echo) for _ in range(4)]
    lags: list[float] = []
    answered = 0
    done = asyncio.Event()

    async def watchdog() -> None:
        while not done.is_set():
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lags.append(loop.time() - expected)

    async def chatter(echo: Pid[Any]) -> None:
        nonlocal answered
        i = 0
        while not done.is_set():
            assert await echo.call(i) == i
            answered += 1
            i += 1
            await asyncio.sleep(0.001)

    async def work(hasher: Pid[Any]) -> list[float]:
        took = [await hasher.call(HASH_SECONDS) for _ in range(2)]
        await node.stop(hasher)  # on_stop hashes too, off the loop
        return took

    background = [asyncio.ensure_future(watchdog())]
    background += [asyncio.ensure_future(chatter(echo)) for echo in echoes]
    started = time.monotonic()
    durations = await asyncio.gather(*(work(h) for h in hashers))
    elapsed = time.monotonic() - started
    done.set()
    await asyncio.gather(*background)

    hashing = sum(sum(d) for d in durations)
    assert hashing > 1.0, f"the threads hashed for only {hashing:.2f}s"
    assert min(min(d) for d in durations) >= HASH_SECONDS
    assert len(lags) > elapsed / 0.05, "the watchdog barely ran"
    assert max(lags) < MAX_LAG, f"the loop stalled {max(lags) * 1000:.0f} ms"
    assert answered > 50
    assert not any(h.alive for h in hashers)
