"""The registry: unique names and duplicate keys (OTP REG-1..5).

REG-2 (only a process registers itself) is not enforced: the registry is a
node-local table that the runtime and supervisors fill in for a process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bitnexus.actors import Actor, From, Node, Pid, Registry, Reply
from bitnexus.exceptions import NameTaken


class Member(Actor):
    """Registers itself under the keys it is told to, like a channel joining topics."""

    async def handle_cast(self, message: Any) -> None:
        match message:
            case ("join", key, value):
                self.node.registry.register_key(self._process, key, value)
            case ("leave", key):
                self.node.registry.unregister_key(self._process, key)

    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(request)


def proc(pid: Pid[Any]) -> Any:
    assert pid._proc is not None
    return pid._proc


async def test_a_unique_name_maps_to_one_process(node: Node) -> None:
    pid = await node.start(Member, name="accounts")
    assert node.registry.whereis("accounts") == pid
    assert node.registry.names() == ["accounts"]
    assert node.info(pid).name == "accounts"  # type: ignore[union-attr]


async def test_a_taken_name_is_refused_with_the_holder(node: Node) -> None:
    holder = await node.start(Member, name="accounts")
    with pytest.raises(NameTaken) as raised:
        node.spawn(Member, name="accounts")
    assert raised.value.name == "accounts"
    assert raised.value.holder == holder
    assert len(node) == 1
    other = await node.start(Member)
    with pytest.raises(NameTaken):
        node.registry.register(proc(other), "accounts")
    assert node.whereis("accounts") == holder


async def test_registering_the_same_name_again_for_its_holder_is_harmless(node: Node) -> None:
    pid = await node.start(Member, name="accounts")
    node.registry.register(proc(pid), "accounts")
    node.registry.register(proc(pid), "billing")
    assert node.whereis("accounts") == pid == node.whereis("billing")
    assert node.info(pid).name == "accounts"  # type: ignore[union-attr]


async def test_names_can_be_any_hashable_term_like_a_via_tuple(node: Node) -> None:
    pid = await node.start(Member, name=("via", "rooms", 42))
    assert node.whereis(("via", "rooms", 42)) == pid
    with pytest.raises(NameTaken):
        await node.start(Member, name=("via", "rooms", 42))
    assert node.whereis(("via", "rooms", 43)) is None


async def test_a_name_is_released_the_moment_its_holder_exits(node: Node) -> None:
    first = await node.start(Member, name="accounts")
    node.exit(first, "kill")
    assert node.whereis("accounts") is None
    second = await node.start(Member, name="accounts")
    assert node.whereis("accounts") == second != first


async def test_unregister_frees_a_name_and_is_quiet_for_a_free_one(node: Node) -> None:
    pid = await node.start(Member, name="accounts")
    node.registry.unregister("accounts")
    node.registry.unregister("never registered")
    assert node.whereis("accounts") is None
    assert node.info(pid).name is None  # type: ignore[union-attr]
    assert pid.alive


async def test_a_duplicate_key_holds_many_processes_each_with_a_value(node: Node) -> None:
    pids = [await node.start(Member) for _ in range(3)]
    for i, pid in enumerate(pids):
        pid.cast(("join", "room:1", {"user": i}))
    await asyncio.gather(*(pid.call("sync") for pid in pids))
    assert sorted(node.registry.lookup("room:1")) == [
        (pid, {"user": i}) for i, pid in enumerate(pids)
    ]
    assert node.registry.count("room:1") == 3
    assert node.registry.lookup("room:2") == []
    assert node.registry.count("room:2") == 0


async def test_one_process_may_hold_many_keys_and_re_registering_updates_the_value(
    node: Node,
) -> None:
    pid = await node.start(Member)
    for key in ("room:1", "room:2"):
        pid.cast(("join", key, "old"))
    pid.cast(("join", "room:1", "new"))
    await pid.call("sync")
    assert node.registry.lookup("room:1") == [(pid, "new")]
    assert node.registry.lookup("room:2") == [(pid, "old")]
    assert sorted(node.registry.keys_of(proc(pid))) == ["room:1", "room:2"]


async def test_unregister_key_removes_only_that_process_from_that_key(node: Node) -> None:
    a = await node.start(Member)
    b = await node.start(Member)
    for pid in (a, b):
        pid.cast(("join", "room:1", None))
    a.cast(("leave", "room:1"))
    a.cast(("leave", "room:unknown"))
    await asyncio.gather(a.call("sync"), b.call("sync"))
    assert node.registry.lookup("room:1") == [(b, None)]
    assert node.registry.keys_of(proc(a)) == []


async def test_key_entries_vanish_the_moment_their_process_exits(node: Node) -> None:
    a = await node.start(Member)
    b = await node.start(Member)
    for pid in (a, b):
        pid.cast(("join", "room:1", None))
        pid.cast(("join", "room:2", None))
    await asyncio.gather(a.call("sync"), b.call("sync"))
    node.exit(a, "kill")
    assert node.registry.lookup("room:1") == [(b, None)]
    assert node.registry.count("room:2") == 1
    await node.stop(b)
    assert node.registry.count("room:1") == 0
    assert node.registry.entries("room:1") == {}


def test_a_fresh_registry_is_empty() -> None:
    registry = Registry()
    assert registry.names() == []
    assert registry.whereis("x") is None
    assert registry.lookup("x") == []
