"""Names for processes: unique names and duplicate keys (Elixir's Registry).

- Unique: one process per name (``spawn(..., name="accounts")``). A second
  registration raises :class:`~bitnexus.exceptions.NameTaken`.
- Duplicate: many processes under one key, each with a value, e.g. every
  channel subscribed to a topic.

Entries vanish when their process exits (REG-3; here at once, never stale).

Example::

    node.registry.register_key(pid, "room:1", {"user": 7})
    for pid, value in node.registry.lookup("room:1"):
        pid.send(("hello", value))
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from bitnexus.exceptions import NameTaken

if TYPE_CHECKING:
    from bitnexus.actors.pid import Pid
    from bitnexus.actors.process import Process

__all__ = ["Registry"]


class Registry:
    """Unique names and duplicate keys for the processes of one node."""

    __slots__ = ("_keys", "_names")

    def __init__(self) -> None:
        self._names: dict[Hashable, Process] = {}
        self._keys: dict[Hashable, dict[Pid[Any], Any]] = {}

    # -- unique names ------------------------------------------------------
    def register(self, proc: Process, name: Hashable) -> None:
        """Give ``proc`` the unique ``name``.

        Raises:
            NameTaken: another live process holds the name (REG-4).
        """
        holder = self._names.get(name)
        if holder is not None and holder is not proc:
            raise NameTaken(name, holder.pid)
        self._names[name] = proc
        if proc.names is None:
            proc.names = []
        if name not in proc.names:
            proc.names.append(name)

    def unregister(self, name: Hashable) -> None:
        """Release ``name`` (no error if it is free)."""
        proc = self._names.pop(name, None)
        if proc is not None and proc.names:
            proc.names.remove(name)

    def whereis(self, name: Hashable) -> Pid[Any] | None:
        """The pid registered under ``name``, or None."""
        proc = self._names.get(name)
        return proc.pid if proc is not None else None

    def names(self) -> list[Hashable]:
        """Every registered unique name."""
        return list(self._names)

    # -- duplicate keys ------------------------------------------------------
    def register_key(self, proc: Process, key: Hashable, value: Any = None) -> None:
        """Add ``proc`` under ``key`` with ``value``; re-registering updates the value."""
        entries = self._keys.get(key)
        if entries is None:
            entries = self._keys[key] = {}
        if proc.pid not in entries:
            if proc.keys is None:
                proc.keys = []
            proc.keys.append(key)
        entries[proc.pid] = value

    def unregister_key(self, proc: Process, key: Hashable) -> None:
        """Remove ``proc`` from ``key``."""
        entries = self._keys.get(key)
        if entries is None or entries.pop(proc.pid, _MISSING) is _MISSING:
            return
        if not entries:
            del self._keys[key]
        if proc.keys:
            proc.keys.remove(key)

    def lookup(self, key: Hashable) -> list[tuple[Pid[Any], Any]]:
        """``(pid, value)`` for every process under ``key``."""
        entries = self._keys.get(key)
        return list(entries.items()) if entries else []

    def entries(self, key: Hashable) -> dict[Pid[Any], Any]:
        """The live mapping for ``key`` (read-only by convention; fast path)."""
        return self._keys.get(key) or _EMPTY

    def count(self, key: Hashable) -> int:
        """How many processes are under ``key``, in constant time."""
        entries = self._keys.get(key)
        return len(entries) if entries else 0

    def keys_of(self, proc: Process) -> list[Hashable]:
        """The duplicate keys ``proc`` is registered under."""
        return list(proc.keys or ())

    # -- cleanup -------------------------------------------------------------
    def _remove_process(self, proc: Process) -> None:
        if proc.names:
            for name in proc.names:
                if self._names.get(name) is proc:
                    del self._names[name]
            proc.names = None
        if proc.keys:
            pid = proc.pid
            for key in proc.keys:
                entries = self._keys.get(key)
                if entries is not None:
                    entries.pop(pid, None)
                    if not entries:
                        del self._keys[key]
            proc.keys = None


_MISSING = object()
_EMPTY: dict[Any, Any] = {}
