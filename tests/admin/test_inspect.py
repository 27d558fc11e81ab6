from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from bitnexus.actors import Actor, Node
from bitnexus.admin.inspect import (
    MAX_LIMIT,
    REDACTED,
    ROOT,
    RateSampler,
    TreeIndex,
    TreeQuery,
    parse_pid,
    redact,
    tree_page,
)
from bitnexus.supervision import ChildSpec, Supervisor

from .support import Blocker, Counter

VIEW_FIELDS = {
    "pid", "name", "kind", "actor", "strategy", "parent", "children", "children_count",
    "mailbox_len", "handled", "rate", "restarts", "uptime", "memory_estimate", "status",
    "label", "summary",
}  # fmt: skip


class FakeChannel(Actor):
    kind: ClassVar[str] = "channel"

    def __init__(self, topic: str) -> None:
        self.topic = topic

    async def init(self) -> Any:
        self.set_label(("channel", self.topic))
        return None

    def summary(self) -> Any:
        return {"topic": self.topic}


async def start_tree(node: Node) -> Any:
    children = [
        ChildSpec.for_actor(Counter, id="a", name="shop.counter"),
        ChildSpec.for_actor(Counter, id="b", name="shop.other"),
        ChildSpec.for_actor(Supervisor, [], id="inner", name="inner.sup"),
    ]
    return await node.start(Supervisor, children, name="top")


def by_pid(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["pid"]: p for p in page["processes"]}


async def test_tree_page_shows_every_process_with_its_place_in_the_tree(node: Node) -> None:
    top = await start_tree(node)
    page = tree_page(node, TreeQuery())
    views = by_pid(page)
    assert page["total"] == page["matched"] == 4
    assert page["roots"] == [str(top)]
    root = views[str(top)]
    assert set(root) == VIEW_FIELDS
    assert root["kind"] == "supervisor"
    assert root["strategy"] == "one_for_one"
    assert root["parent"] is None
    assert root["children_count"] == 3
    counter = node.whereis("shop.counter")
    child = views[str(counter)]
    assert child["parent"] == str(top)
    assert str(counter) in root["children"]
    assert (child["name"], child["kind"], child["strategy"]) == ("shop.counter", "worker", None)
    assert child["actor"].endswith("support.Counter")
    assert child["status"] == "waiting"
    assert child["memory_estimate"] > 0
    assert child["summary"] == {"count": 0}
    assert orjson.loads(orjson.dumps(page)) == page  # plain JSON all the way down


async def test_filters_by_kind_name_prefix_parent_and_root(node: Node) -> None:
    top = await start_tree(node)
    inner = node.whereis("inner.sup")
    assert {p["name"] for p in tree_page(node, TreeQuery(kind="supervisor"))["processes"]} == {
        "top",
        "inner.sup",
    }
    names = {p["name"] for p in tree_page(node, TreeQuery(name_prefix="shop."))["processes"]}
    assert names == {"shop.counter", "shop.other"}
    kids = tree_page(node, TreeQuery(parent=str(top)))["processes"]
    assert {p["pid"] for p in kids} == {
        str(node.whereis(n)) for n in ("shop.counter", "shop.other")
    } | {str(inner)}
    assert [p["pid"] for p in tree_page(node, TreeQuery(parent=ROOT))["processes"]] == [str(top)]
    assert tree_page(node, TreeQuery(parent=str(inner)))["matched"] == 0
    assert tree_page(node, TreeQuery(parent="<0.999999.0>"))["matched"] == 0
    assert tree_page(node, TreeQuery(kind="worker", name_prefix="inner"))["matched"] == 0


async def test_topic_filter_finds_the_channels_of_one_topic(node: Node) -> None:
    holder = node.spawn(Counter)
    lobby = [node.spawn(FakeChannel, "room:lobby", parent=holder) for _ in range(3)]
    node.spawn(FakeChannel, "room:other", parent=holder)
    await asyncio.sleep(0.01)
    page = tree_page(node, TreeQuery(topic="room:lobby"))
    assert sorted(p["pid"] for p in page["processes"]) == sorted(str(p) for p in lobby)
    assert all(p["label"] == ["channel", "room:lobby"] for p in page["processes"])
    assert tree_page(node, TreeQuery(topic="room:none"))["matched"] == 0


async def test_pages_are_bounded_and_walk_the_whole_list(node: Node) -> None:
    holder = node.spawn(Counter)
    for _ in range(1500):
        node.spawn(Counter, parent=holder)
    page = tree_page(node, TreeQuery(parent=str(holder), limit=100_000))
    assert page["limit"] == MAX_LIMIT
    assert len(page["processes"]) == MAX_LIMIT
    assert page["next_offset"] == MAX_LIMIT
    rest = tree_page(node, TreeQuery(parent=str(holder), offset=1000, limit=1000))
    assert len(rest["processes"]) == 500
    assert rest["next_offset"] is None
    seen = {p["pid"] for p in page["processes"]} | {p["pid"] for p in rest["processes"]}
    assert len(seen) == 1500
    holder_view = by_pid(tree_page(node, TreeQuery(kind="worker", limit=1)))[str(holder)]
    assert holder_view["children_count"] == 1500
    assert len(holder_view["children"]) == 50  # the list is capped, the count is not


async def test_sort_by_mailbox_puts_the_longest_queue_first(node: Node) -> None:
    quiet = await node.start(Blocker)
    busy = await node.start(Blocker)
    busy.cast("block")
    for i in range(7):
        busy.send(("job", i))
    await asyncio.sleep(0.01)
    page = tree_page(node, TreeQuery(sort="mailbox"))
    assert page["processes"][0]["pid"] == str(busy)
    assert page["processes"][0]["mailbox_len"] == 7
    assert by_pid(page)[str(quiet)]["mailbox_len"] == 0
    busy._proc.actor.gate.set()  # type: ignore[union-attr]


async def test_sort_by_rate_uses_the_sampler(node: Node) -> None:
    idle = await node.start(Counter)
    chatty = await node.start(Counter)
    sampler = RateSampler(node)
    sampler.sample()
    for _ in range(50):
        chatty.cast("tick")
    await asyncio.sleep(0.05)
    sampler.sample()
    assert sampler.rates[chatty] > 0
    assert idle not in sampler.rates
    assert sampler.total_rate > 0
    page = tree_page(node, TreeQuery(sort="rate"), rates=sampler.rates)
    assert page["processes"][0]["pid"] == str(chatty)
    assert page["processes"][0]["rate"] > 0


async def test_node_rate_counts_messages_of_processes_that_died_meanwhile(node: Node) -> None:
    sampler = RateSampler(node)
    sampler.sample()
    short_lived = await node.start(Counter)
    for _ in range(20):
        short_lived.cast("tick")
    await asyncio.sleep(0.01)
    await node.stop(short_lived)
    await asyncio.sleep(0.01)
    sampler.sample()
    assert node.handled_by_dead >= 20
    assert sampler.total_rate > 0


async def test_parse_pid_accepts_the_printed_forms_of_live_pids_only(node: Node) -> None:
    pid = await node.start(Counter)
    text = str(pid)
    assert parse_pid(node, text) == pid
    assert parse_pid(node, text.strip("<>")) == pid
    assert parse_pid(node, str(pid.serial)) == pid
    assert parse_pid(node, f"<{node.node_id + 1}.{pid.serial}.0>") is None
    assert parse_pid(node, "nonsense") is None
    await node.stop(pid)
    assert parse_pid(node, text) is None


@dataclass
class Login:
    email: str
    password: str


def test_redact_hides_secret_fields_and_keeps_the_rest() -> None:
    shown = redact({"email": "ada@example.com", "password": "hunter2", "nested": {"token": "t"}})
    assert shown == {
        "email": "ada@example.com",
        "password": REDACTED,
        "nested": {"token": REDACTED},
    }
    assert redact(("login", "my password is hunter2")) == ["login", REDACTED]
    assert redact(Login("ada@example.com", "hunter2")) == {
        "type": "Login",
        "email": "ada@example.com",
        "password": REDACTED,
    }
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"
    assert redact({"note": jwt_like}) == {"note": REDACTED}
    assert redact("x" * 1000).endswith("…")
    assert redact(b"\x00" * 10) == "<10 bytes>"


async def test_a_shared_index_sees_every_spawn_exit_and_restart(node: Node) -> None:
    index = TreeIndex(node)
    sup = await node.start(
        Supervisor, [ChildSpec.for_actor(Counter, id="c", name="c")], max_restarts=10
    )

    def kids() -> list[str]:
        page = tree_page(node, TreeQuery(parent=str(sup)), index=index)
        return [p["pid"] for p in page["processes"]]

    first = node.whereis("c")
    assert kids() == [str(first)]
    extra = await Supervisor.start_child(sup, ChildSpec.for_actor(Counter, id="x"))
    assert kids() == [str(first), str(extra)]
    node.exit(first, "kill")  # exit and restart: same count, new pid
    await asyncio.sleep(0.05)
    second = node.whereis("c")
    assert second not in (None, first)
    assert sorted(kids()) == sorted([str(second), str(extra)])
    await Supervisor.terminate_child(sup, "x")
    assert kids() == [str(second)]
    assert index.children(sup) == [second]
