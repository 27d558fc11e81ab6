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

from typing import Any

from bitnexus.actors import Reply, ThreadActor
from bitnexus.auth.passwords import PasswordHasher, PasswordRejected
from bitnexus.exceptions import Misuse
from bitnexus.services.pool import Refusal, WorkerPool
from bitnexus.supervision import ChildSpec

__all__ = ["HasherWorker", "PasswordHashers"]


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
                return Reply(Refusal(exc))
        if op == "verify":
            return Reply(self.hasher.verify(*args))
        if op == "dummy_verify":
            return Reply(self.hasher.dummy_verify(*args))
        raise Misuse(f"HasherWorker has no operation {op!r}")


class PasswordHashers(WorkerPool):
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
        super().__init__(name, size=size, timeout=timeout)
        self.hasher = hasher if hasher is not None else PasswordHasher()

    def worker_spec(self, worker_name: str) -> ChildSpec:
        return ChildSpec.for_actor(HasherWorker, self.hasher, id=worker_name, name=worker_name)

    async def _call(self, op: str, *args: Any) -> Any:
        return await self.call_worker((op, args))

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
