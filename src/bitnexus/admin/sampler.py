"""The sampler process: takes a :class:`RateSampler` sample every second, so
the admin tree and ``/metrics`` can show messages per second.

It is an ordinary supervised worker; if it crashes, rates read zero until its
supervisor has restarted it.

Example::

    sampler = RateSampler(node)
    children.append(sampler_spec(sampler))          # into the application tree
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from bitnexus.actors import Actor, NoReply
from bitnexus.admin.inspect import RateSampler
from bitnexus.supervision import ChildSpec

__all__ = ["SAMPLER_NAME", "SamplerActor", "sampler_spec"]

SAMPLER_NAME = "bitnexus.admin.sampler"


class SamplerActor(Actor):
    """Calls ``sampler.sample()`` every ``interval`` seconds.

    Args:
        sampler: the sampler the admin API and metrics read.
        interval: seconds between samples.
    """

    kind: ClassVar[str] = "service"

    def __init__(self, sampler: RateSampler, interval: float = 1.0) -> None:
        self.sampler = sampler
        self.interval = interval
        self.samples = 0
        self.last_cost = 0.0

    async def init(self) -> Any:
        self.set_label(("admin", "sampler"))
        self._sample()
        # The process timer drives sampling: it needs no handle of its own and
        # dies with the process.
        return NoReply(timeout=self.interval)

    async def handle_info(self, message: Any) -> Any:
        # Any message (normally only the Timeout) is a good moment to sample.
        self._sample()
        return NoReply(timeout=self.interval)

    def _sample(self) -> None:
        started = time.perf_counter()
        self.sampler.sample()
        self.samples += 1
        self.last_cost = time.perf_counter() - started

    def summary(self) -> Any:
        return {
            "interval": self.interval,
            "samples": self.samples,
            "last_cost_ms": round(self.last_cost * 1000, 2),
            "messages_per_second": round(self.sampler.total_rate, 2),
        }


def sampler_spec(sampler: RateSampler, *, interval: float = 1.0) -> ChildSpec:
    """The child spec of the sampler process, registered as :data:`SAMPLER_NAME`.

    Example::

        Application([*other_children, sampler_spec(RateSampler(node))], node=node)
    """
    return ChildSpec.for_actor(SamplerActor, sampler, interval, id=SAMPLER_NAME, name=SAMPLER_NAME)
