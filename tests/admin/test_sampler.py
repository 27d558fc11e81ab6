from __future__ import annotations

import asyncio

from bitnexus.actors import Node
from bitnexus.admin.inspect import RateSampler
from bitnexus.admin.sampler import SAMPLER_NAME, sampler_spec
from bitnexus.supervision import Supervisor

from .support import Counter, wait_until


async def test_the_sampler_process_keeps_rates_current_on_its_own(node: Node) -> None:
    sampler = RateSampler(node)
    await node.start(Supervisor, [sampler_spec(sampler, interval=0.05)], max_restarts=10)
    chatty = await node.start(Counter)

    async def chatter() -> None:
        while True:
            chatty.cast("tick")
            await asyncio.sleep(0.002)

    task = asyncio.create_task(chatter())
    try:
        await wait_until(lambda: sampler.rates.get(chatty, 0) > 10, timeout=2)
        assert sampler.total_rate > 10
    finally:
        task.cancel()
    await wait_until(lambda: chatty not in sampler.rates, timeout=2)  # quiet again
    info = node.info(node.whereis(SAMPLER_NAME))
    assert info is not None
    assert info.kind == "service"
    assert info.summary["samples"] >= 3


async def test_a_killed_sampler_is_restarted_and_samples_again(node: Node) -> None:
    sampler = RateSampler(node)
    await node.start(Supervisor, [sampler_spec(sampler, interval=0.05)], max_restarts=10)
    old = node.whereis(SAMPLER_NAME)
    assert old is not None
    node.exit(old, "kill")
    await wait_until(lambda: node.whereis(SAMPLER_NAME) not in (None, old))
    new = node.whereis(SAMPLER_NAME)
    await wait_until(lambda: node.info(new).summary["samples"] >= 2)  # type: ignore[union-attr]
