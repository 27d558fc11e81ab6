"""The idle sweeper: one timer per mount closes silent sockets (1002)."""

from __future__ import annotations

import asyncio
from typing import Any

from bitnexus.channels.idle import IdleSweeper


class Handle:
    def __init__(self) -> None:
        self.last_seen = 0.0
        self.closed_with: tuple[int, str] | None = None

    def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)


async def test_only_silent_sockets_are_closed_and_within_a_quarter_of_the_timeout() -> None:
    loop = asyncio.get_running_loop()
    sweeper = IdleSweeper(0.2, 1002)
    silent, chatty = Handle(), Handle()
    sweeper.watch(silent)
    sweeper.watch(chatty)
    started = loop.time()
    while silent.closed_with is None and loop.time() - started < 1.0:
        chatty.last_seen = loop.time()
        await asyncio.sleep(0.02)
    elapsed = loop.time() - started
    assert silent.closed_with == (1002, "idle timeout")
    assert 0.2 <= elapsed < 0.2 * 1.25 + 0.1
    assert chatty.closed_with is None
    assert len(sweeper) == 1  # the closed one is no longer watched
    sweeper.forget(chatty)


async def test_the_timer_runs_only_while_sockets_are_watched() -> None:
    sweeper = IdleSweeper(0.1, 1002)
    handle: Any = Handle()
    sweeper.watch(handle)
    assert sweeper._timer is not None
    sweeper.forget(handle)
    assert sweeper._timer is None
    await asyncio.sleep(0.15)
    assert handle.closed_with is None  # forgotten: never swept
