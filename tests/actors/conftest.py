"""Fixtures for the process runtime tests: a fresh node per test, shut down after."""

from __future__ import annotations

import pytest

from bitnexus.actors import Node
from bitnexus.actors.testing import Probe


@pytest.fixture
async def probe(node: Node) -> Probe:
    """A probe process that traps exits, so links never take it down."""
    return await Probe.start(node, trap_exit=True)
