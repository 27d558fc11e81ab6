"""ChildSpec: fields, defaults and validation (CS-1..5, Elixir supervisor cases 1, 2, 14, 15)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bitnexus.actors import Actor, Node, Pid
from bitnexus.exceptions import Misuse
from bitnexus.supervision import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    ChildType,
    DynamicSupervisor,
    InvalidChildSpec,
    Restart,
    Supervisor,
)

from ._workers import Worker


async def start_worker(node: Node, parent: Pid[Any], *extra: Any) -> Pid[Any]:
    return await node.start_link(Worker, *extra, link_to=parent, parent=parent)


def test_a_worker_spec_defaults_to_permanent_worker_with_five_second_shutdown() -> None:
    spec = ChildSpec(id="w", start=start_worker)
    assert spec.restart is Restart.PERMANENT
    assert spec.type is ChildType.WORKER
    assert spec.shutdown == 5.0
    assert spec.shutdown_timeout == 5.0


def test_a_supervisor_spec_defaults_to_infinity_shutdown() -> None:
    spec = ChildSpec(id="s", start=start_worker, type=ChildType.SUPERVISOR)
    assert spec.shutdown == INFINITY
    assert spec.shutdown_timeout is None


def test_brutal_kill_means_a_zero_shutdown_timeout() -> None:
    assert ChildSpec(id="w", start=start_worker, shutdown=BRUTAL_KILL).shutdown_timeout == 0.0


@pytest.mark.parametrize("shutdown", [0, 1, 0.5, BRUTAL_KILL, INFINITY])
def test_valid_shutdown_values_are_accepted(shutdown: Any) -> None:
    assert ChildSpec(id="w", start=start_worker, shutdown=shutdown).shutdown == shutdown


@pytest.mark.parametrize("shutdown", [-1, -0.001, "soon", True, math.nan, [5]])
def test_invalid_shutdown_values_are_rejected(shutdown: Any) -> None:
    with pytest.raises(InvalidChildSpec, match="invalid shutdown"):
        ChildSpec(id="w", start=start_worker, shutdown=shutdown)


def test_a_spec_without_an_id_is_rejected() -> None:
    with pytest.raises(InvalidChildSpec, match="missing its id"):
        ChildSpec(id=None, start=start_worker)


def test_a_spec_whose_start_is_not_callable_is_rejected() -> None:
    with pytest.raises(InvalidChildSpec, match="start must be callable"):
        ChildSpec(id="w", start=("Worker", "start_link", []))  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["restart", "type"])
def test_unknown_restart_or_type_values_are_rejected(field: str) -> None:
    with pytest.raises(InvalidChildSpec):
        ChildSpec(id="w", start=start_worker, **{field: "sometimes"})


def test_restart_and_type_accept_their_string_names() -> None:
    spec = ChildSpec(id="w", start=start_worker, restart="transient", type="supervisor")
    assert spec.restart is Restart.TRANSIENT
    assert spec.type is ChildType.SUPERVISOR


def test_an_invalid_child_spec_is_a_misuse_error() -> None:
    assert issubclass(InvalidChildSpec, Misuse)


def test_for_actor_takes_its_id_from_the_name_then_the_class() -> None:
    assert ChildSpec.for_actor(Worker).id == "Worker"
    assert ChildSpec.for_actor(Worker, name="counter").id == "counter"
    assert ChildSpec.for_actor(Worker, id="mine", name="counter").id == "mine"


def test_for_actor_describes_the_actor_class() -> None:
    assert ChildSpec.for_actor(Worker).description == f"{Worker.__module__}.Worker"


def test_for_actor_makes_supervisor_specs_for_supervisor_actors() -> None:
    for cls in (Supervisor, DynamicSupervisor):
        spec = ChildSpec.for_actor(cls, id="sup")
        assert spec.type is ChildType.SUPERVISOR
        assert spec.shutdown == INFINITY
    assert ChildSpec.for_actor(Worker, type=ChildType.SUPERVISOR).type is ChildType.SUPERVISOR


def test_for_actor_passes_restart_and_shutdown_through() -> None:
    spec = ChildSpec.for_actor(Worker, restart=Restart.TEMPORARY, shutdown=BRUTAL_KILL)
    assert spec.restart is Restart.TEMPORARY
    assert spec.shutdown == BRUTAL_KILL


def test_for_actor_rejects_something_that_is_not_an_actor_class() -> None:
    with pytest.raises(InvalidChildSpec, match="Actor subclass"):
        ChildSpec.for_actor(object)  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpec, match="Actor subclass"):
        ChildSpec.for_actor(Worker())  # type: ignore[arg-type]


def test_for_actor_validates_the_shutdown_it_is_given() -> None:
    with pytest.raises(InvalidChildSpec, match="invalid shutdown"):
        ChildSpec.for_actor(Worker, shutdown=-1)


def test_with_overrides_changes_only_the_given_fields() -> None:
    spec = ChildSpec.for_actor(Worker, id="a")
    changed = spec.with_overrides(id="b", restart=Restart.TRANSIENT)
    assert (changed.id, changed.restart) == ("b", Restart.TRANSIENT)
    assert (changed.start, changed.type, changed.shutdown) == (spec.start, spec.type, spec.shutdown)
    assert spec.id == "a"


def test_with_overrides_still_validates() -> None:
    with pytest.raises(InvalidChildSpec, match="invalid shutdown"):
        ChildSpec.for_actor(Worker).with_overrides(shutdown=-1)


def test_specs_are_immutable() -> None:
    spec = ChildSpec.for_actor(Worker)
    with pytest.raises(AttributeError):
        spec.id = "other"  # type: ignore[misc]


async def test_a_for_actor_spec_starts_the_actor_linked_to_and_owned_by_its_parent(
    node: Node,
) -> None:
    class Parent(Actor):
        pass

    parent = await node.start(Parent)
    spec = ChildSpec.for_actor(Worker, "tagged", name="named")
    child = await spec.start(node, parent)
    info = node.info(child)
    assert info is not None
    assert info.parent == parent
    assert parent in info.links
    assert info.name == "named"
    assert await child.call("extra") == "tagged"


async def test_a_for_actor_spec_puts_extra_arguments_first(node: Node) -> None:
    class Parent(Actor):
        pass

    parent = await node.start(Parent)
    child = await ChildSpec.for_actor(Worker).start(node, parent, "from-supervisor")
    assert await child.call("extra") == "from-supervisor"
