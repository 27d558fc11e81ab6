from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bitnexus.actors import Node
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import NoProcess


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    """A fresh node per test; whatever a test leaves running is shut down."""
    n = Node()
    yield n
    # Stop the roots first so supervisors take their trees down in order.
    for info in n.processes():
        if info.parent is None and info.pid.alive:
            try:
                await n.stop(info.pid, "shutdown", timeout=1.0)
            except NoProcess:
                pass
    await n.shutdown(timeout=1.0)


@pytest.fixture
async def watcher(node: Node) -> Probe:
    """A test process that monitors others (see ``watch`` and ``down_reason``)."""
    return await Probe.start(node)
