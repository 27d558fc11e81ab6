"""Password hashing off the event loop: a small pool of thread actors.

argon2 is slow on purpose (tens of milliseconds and tens of MiB per hash) and
blocks the thread that runs it. :class:`PasswordHashers` keeps it away from
the event loop: a supervisor of a few :class:`~bitnexus.actors.ThreadActor`
workers, each with its own OS thread, where argon2's C code runs with the GIL
released. Callers ``await`` the result like any other call; the loop keeps
serving requests and sockets meanwhile.

Example::

    hashers = PasswordHashers(PasswordHasher(time_cost=1, memory_cost=8192), size=2)
    children.append(hashers.child_spec())        # in the application tree
    stored = await hashers.hash("correct horse")
    assert await hashers.verify(stored, "correct horse")
"""

from __future__ import annotations

import itertools
from typing import Any

from bitnexus.actors import Node, Reply, ThreadActor
from bitnexus.auth.passwords import PasswordHasher, PasswordRejected
from bitnexus.exceptions import Misuse, NoProcess
from bitnexus.supervision import ChildSpec, ChildType, Strategy, Supervisor

__all__ = ["HasherWorker", "PasswordHashers"]


class _Refusal:
    __slots__ = ("error",)

    def __init__(self, error: PasswordRejected) -> None:
        self.error = error


class HasherWorker(ThreadActor):
    """One hashing thread. Requests are ``(operation, args)`` tuples.

    A rejected password is a result, not a crash: it travels back to the
    caller, and the thread goes on.
    """

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    def handle_call(self, request: Any) -> Any:  # type: ignore[override]
        op, args = request
        if op == "hash":
            try:
                return Reply(self.hasher.hash(*args))
            except PasswordRejected as exc:
                return Reply(_Refusal(exc))
        if op == "verify":
            return Reply(self.hasher.verify(*args))
        if op == "dummy_verify":
            return Reply(self.hasher.dummy_verify(*args))
        raise Misuse(f"HasherWorker has no operation {op!r}")


class PasswordHashers:
    """A named pool of hashing threads and the client to use them.

    Args:
        hasher: the argon2 parameters (shared by every thread; it is
            thread-safe). Defaults to production costs.
        size: number of threads (2 by default; each hash uses ``memory_cost``
            KiB while it runs, so more threads means more memory at peak).
        name: registered-name prefix (workers are ``f"{name}.{i}"``).
        timeout: seconds a caller waits for its hash, queueing included.

    Example::

        hashers = PasswordHashers(PasswordHasher(), size=2, timeout=10.0)
    """

    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        size: int = 2,
        name: str = "bitnexus.passwords",
        timeout: float = 10.0,
    ) -> None:
        if size < 1:
            raise Misuse("PasswordHashers needs at least one thread")
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.size = size
        self.name = name
        self.timeout = timeout
        self.node: Node | None = None
        self._names = [f"{name}.{i}" for i in range(size)]
        self._next = itertools.cycle(range(size))

    def child_spec(self) -> ChildSpec:
        """The hashing threads' supervisor, to add to the application tree."""
        workers = [
            ChildSpec.for_actor(HasherWorker, self.hasher, id=worker, name=worker)
            for worker in self._names
        ]
        hashers = self

        async def start(node: Node, parent: Any, *extra: Any) -> Any:
            hashers.node = node
            return await node.start_link(
                Supervisor,
                workers,
                link_to=parent,
                parent=parent,
                name=hashers.name,
                strategy=Strategy.ONE_FOR_ONE,
                max_restarts=max(3, hashers.size * 2),
                max_seconds=5.0,
            )

        return ChildSpec(
            id=self.name,
            start=start,
            type=ChildType.SUPERVISOR,
            description=f"PasswordHashers({self.name}, size={self.size})",
        )

    async def _call(self, op: str, *args: Any) -> Any:
        node = self.node
        if node is None:
            raise NoProcess(self.name, "the password hashers are not started")
        for _ in range(self.size):
            pid = node.whereis(self._names[next(self._next)])
            if pid is not None:
                break
        else:
            raise NoProcess(self.name, "no hashing thread is running")
        result = await pid.call((op, args), timeout=self.timeout)
        if result.__class__ is _Refusal:
            raise result.error
        return result

    async def hash(self, password: str) -> str:
        """Hash a new password on a hashing thread.

        Raises:
            PasswordRejected: empty or longer than ``MAX_PASSWORD_LENGTH`` (422).
            NoProcess / CallTimeout: the hashers are down or overloaded (503).

        Example::

            stored = await hashers.hash(form["password"])
        """
        return str(await self._call("hash", password))

    async def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; never raises for bad input.

        Example::

            if not await hashers.verify(user.password_hash, attempt): ...
        """
        return bool(await self._call("verify", stored_hash, password))

    async def dummy_verify(self, password: str) -> bool:
        """Spend a real verification's time, then return ``False``.

        Use it when the account does not exist, so response times do not tell
        which emails are registered.
        """
        return bool(await self._call("dummy_verify", password))

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` used other argon2 parameters (cheap: parses only)."""
        return self.hasher.needs_rehash(stored_hash)
