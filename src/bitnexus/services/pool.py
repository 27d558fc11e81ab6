"""Services as pools of supervised worker processes.

No single actor sits on every request's path: a service is a supervisor of
``size`` workers (sized to the database pool), each sequential, all in
parallel. A call picks the next worker round-robin. Expected refusals
(``NotFound``, ``Conflict``, validation) travel back to the caller as
exceptions; anything else crashes that worker, the caller gets
``ProcessExited`` (HTTP 503), and the supervisor restarts it.

Example::

    class Greeter(Service):
        operations = ("greet",)
        async def greet(self, name: str) -> str:
            return f"hello {name}"

    pool = ServicePool("greeter", Greeter, size=4)
    children.append(pool.child_spec())
    assert await pool.call("greet", name="ada") == "hello ada"
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, ClassVar

from bitnexus.actors import Actor, From, Node, Reply
from bitnexus.exceptions import Misuse, NoProcess, Refused
from bitnexus.supervision import ChildSpec, ChildType, Strategy, Supervisor

__all__ = ["Refusal", "Service", "ServicePool", "ServiceWorker", "WorkerPool"]


class Service:
    """Business logic run inside worker processes.

    Class attributes:
        operations: the method names callers may invoke; anything else is a Misuse.
    """

    operations: ClassVar[tuple[str, ...]] = ()

    async def start(self) -> None:
        """Runs in the worker's ``init`` (e.g. warm caches)."""

    def summary(self) -> Any:
        return None


class Refusal:
    """A refused request travelling back from a worker to its caller, who
    re-raises ``error`` (a crash, by contrast, ends the worker)."""

    __slots__ = ("error",)

    def __init__(self, error: Refused) -> None:
        self.error = error


class ServiceWorker(Actor):
    """One worker: runs one operation at a time."""

    kind: ClassVar[str] = "service"

    def __init__(self, factory: Callable[[], Service]) -> None:
        self.service = factory()
        self.allowed = frozenset(type(self.service).operations)

    async def init(self) -> Any:
        await self.service.start()
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        op, kwargs = request
        if op not in self.allowed:
            return Reply(Refusal(Misuse(f"{type(self.service).__name__} has no operation {op!r}")))
        try:
            return Reply(await getattr(self.service, op)(**kwargs))
        except Refused as exc:
            return Reply(Refusal(exc))

    def summary(self) -> Any:
        return {"service": type(self.service).__name__, "detail": self.service.summary()}


class WorkerPool:
    """A named supervisor of ``size`` workers, called round-robin.

    Subclasses say how one worker starts (:meth:`worker_spec`); the pool
    gives the supervisor's child spec and :meth:`call_worker`.

    Args:
        name: registered-name prefix (workers are ``f"{name}.{i}"``).
        size: number of workers.
        timeout: default call timeout in seconds.
    """

    def __init__(self, name: str, *, size: int, timeout: float) -> None:
        if size < 1:
            raise Misuse(f"the worker pool {name!r} needs at least one worker")
        self.name = name
        self.size = size
        self.timeout = timeout
        self.node: Node | None = None
        self._names = [f"{name}.{i}" for i in range(size)]
        self._next = itertools.cycle(range(size))

    def worker_spec(self, worker_name: str) -> ChildSpec:
        """The child spec of one worker registered as ``worker_name``."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{type(self).__name__}({self.name}, size={self.size})"

    def child_spec(self) -> ChildSpec:
        """The pool's supervisor, to add to the application tree."""
        workers = [self.worker_spec(worker) for worker in self._names]
        pool = self

        async def start(node: Node, parent: Any, *extra: Any) -> Any:
            pool.node = node
            return await node.start_link(
                Supervisor,
                workers,
                link_to=parent,
                parent=parent,
                name=pool.name,
                strategy=Strategy.ONE_FOR_ONE,
                max_restarts=max(3, pool.size * 2),
                max_seconds=5.0,
            )

        return ChildSpec(
            id=self.name, start=start, type=ChildType.SUPERVISOR, description=self.describe()
        )

    async def call_worker(self, request: Any, *, timeout: float | None = None) -> Any:
        """Call the next running worker with ``request``; re-raise its refusal.

        Raises:
            NoProcess / CallTimeout / ProcessExited: the pool is down or slow (503).
        """
        node = self.node
        if node is None:
            raise NoProcess(self.name, "the worker pool is not started")
        for _ in range(self.size):
            pid = node.whereis(self._names[next(self._next)])
            if pid is not None:
                break
        else:
            raise NoProcess(self.name, "no worker is running")
        result = await pid.call(request, timeout=self.timeout if timeout is None else timeout)
        if result.__class__ is Refusal:
            raise result.error
        return result


class ServicePool(WorkerPool):
    """A named pool of service workers and the client to call them.

    Args:
        name: registered-name prefix (workers are ``f"{name}.{i}"``).
        factory: builds one :class:`Service` per worker (and per restart).
        size: number of workers.
        timeout: default call timeout in seconds.
    """

    def __init__(
        self, name: str, factory: Callable[[], Service], *, size: int = 4, timeout: float = 5.0
    ) -> None:
        super().__init__(name, size=size, timeout=timeout)
        self.factory = factory

    def worker_spec(self, worker_name: str) -> ChildSpec:
        return ChildSpec.for_actor(ServiceWorker, self.factory, id=worker_name, name=worker_name)

    def describe(self) -> str:
        return f"ServicePool({self.name})"

    async def call(self, op: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run ``op(**kwargs)`` on the next worker and return its result.

        Raises:
            Refused: what the service refused with (NotFound, Conflict, ...).
            NoProcess / CallTimeout / ProcessExited: the service is down or slow (503).
        """
        return await self.call_worker((op, kwargs), timeout=timeout)
