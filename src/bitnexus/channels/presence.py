"""Phoenix Presence: who is on a topic, with a ``presence_diff`` after every change.

A :class:`Presence` owns one tracker process (:class:`PresenceTracker`,
registered under ``name``). ``track``/``untrack``/``update`` are calls into
it, so changes are applied and broadcast one at a time, in order; ``list``
and ``get_by_key`` read the state directly, without a call. The tracker
monitors every tracked process: when one exits, its presences leave.

After every change the tracker sends ``presence_diff``
(``{"joins": {...}, "leaves": {...}}``, both always present) with
``pubsub.local_broadcast``, so channels get it through their fastlane as
``[null, null, topic, "presence_diff", {...}]``. An update is one diff with
the key in both maps: the new meta (``phx_ref_prev`` = the old ref) in
joins, the old meta in leaves. Clients apply joins before leaves and match
metas by ``phx_ref`` (reference §4.1, §8 #8). A channel that intercepts
``presence_diff`` should push it once, unchanged (§8 #9).

The state is laid out for replication (reference §4.3): each entry is tagged
with a dot ``(replica, clock)``; local changes take the next local clock, and
the causal context records the highest clock seen per replica. A dot at or
below the context that is not in ``entries`` was removed, so a replicator
can ship deltas (new entries plus the context) and merge others' with
:meth:`PresenceState.add` / :meth:`PresenceState.remove`. It is not built yet.

Example::

    presence = Presence(pubsub)
    children = [*presence.child_specs(), ...]          # in the application tree
    ref = await presence.track(channel_pid, "room:1", "ada", {"online_at": "1700000000"})
    presence.list("room:1")   # {"ada": {"metas": [{"online_at": "1700000000", "phx_ref": ref}]}}
"""

from __future__ import annotations

import base64
import logging
import secrets
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from bitnexus.actors import Actor, Down, From, Pid, Ref, Reply
from bitnexus.channels.protocol import Broadcast
from bitnexus.exceptions import Misuse, Refused
from bitnexus.pubsub import PubSub
from bitnexus.supervision import ChildSpec

__all__ = [
    "AlreadyTracked",
    "Entry",
    "NoPresence",
    "Presence",
    "PresenceState",
    "PresenceTracker",
    "Tag",
    "make_ref_generator",
]

_log = logging.getLogger("bitnexus.presence")

Tag = tuple[str, int]
"""A dot ``(replica id, clock)``: unique per entry across the cluster."""

Meta = dict[str, Any]
_MetasByKey = dict[str, list[Meta]]
Presences = dict[str, dict[str, Any]]
"""``{key: {"metas": [meta, ...], ...}}``, what ``presence_state`` carries."""


class AlreadyTracked(Refused):
    """``track`` of a (pid, topic, key) that is already tracked (Phoenix's
    ``{:error, {:already_tracked, ...}}``); use ``update`` instead."""

    status = 409

    def __init__(self, pid: Pid[Any], topic: str, key: str) -> None:
        self.pid, self.topic, self.key = pid, topic, key
        super().__init__(f"{pid} already tracks {key!r} on {topic!r}")


class NoPresence(Refused):
    """``update`` of a presence that is not tracked (``{:error, :nopresence}``)."""

    status = 404

    def __init__(self, pid: Pid[Any], topic: str, key: str) -> None:
        self.pid, self.topic, self.key = pid, topic, key
        super().__init__(f"{pid} does not track {key!r} on {topic!r}")


class Entry(NamedTuple):
    """One element of the set: a process present under ``key`` on ``topic``."""

    topic: str
    key: str
    pid: Pid[Any]
    meta: Meta


class PresenceState:
    """The presences one replica knows: an add-wins observed-remove set of
    :class:`Entry`, each tagged with a dot, with indexes for reads.

    Args:
        replica: this replica's id (unique per tracker incarnation cluster-wide).

    Example::

        state = PresenceState("node-a")
        tag = state.next_tag()
        state.add(tag, Entry("room:1", "ada", pid, {"phx_ref": "..."}))
        state.remove(tag)
    """

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.clock = 0
        self.context: dict[str, int] = {replica: 0}
        """Highest clock seen per replica (the causal context)."""
        self.entries: dict[Tag, Entry] = {}
        # Read indexes: topic -> key -> tag -> meta (insertion ordered), and
        # pid -> (topic, key) -> tag for uniqueness checks and exits.
        self.topics: dict[str, dict[str, dict[Tag, Meta]]] = {}
        self.owned: dict[Pid[Any], dict[tuple[str, str], Tag]] = {}

    def next_tag(self) -> Tag:
        """The dot for the next local change."""
        self.clock += 1
        self.context[self.replica] = self.clock
        return (self.replica, self.clock)

    def add(self, tag: Tag, entry: Entry) -> None:
        """Insert ``entry`` under ``tag`` (a local join or a merged remote one)."""
        self.entries[tag] = entry
        self.topics.setdefault(entry.topic, {}).setdefault(entry.key, {})[tag] = entry.meta
        self.owned.setdefault(entry.pid, {})[(entry.topic, entry.key)] = tag

    def remove(self, tag: Tag) -> Entry | None:
        """Drop the entry tagged ``tag``; returns it, or None if absent."""
        entry = self.entries.pop(tag, None)
        if entry is None:
            return None
        keys = self.topics[entry.topic]
        metas = keys[entry.key]
        del metas[tag]
        if not metas:
            del keys[entry.key]
            if not keys:
                del self.topics[entry.topic]
        owned = self.owned[entry.pid]
        del owned[(entry.topic, entry.key)]
        if not owned:
            del self.owned[entry.pid]
        return entry

    def lookup(self, pid: Pid[Any], topic: str, key: str) -> Tag | None:
        """The tag of ``pid``'s presence under ``key`` on ``topic``, if any."""
        owned = self.owned.get(pid)
        return owned.get((topic, key)) if owned else None

    def tags_of(self, pid: Pid[Any]) -> list[Tag]:
        """Every tag ``pid`` owns, oldest first."""
        owned = self.owned.get(pid)
        return list(owned.values()) if owned else []


def make_ref_generator(seed: str) -> Callable[[], str]:
    """A ``phx_ref`` maker: URL-safe base64 of 12 bytes (64-bit ns time,
    16-bit hash of ``seed``, 16-bit counter), 16 characters.

    The time never repeats or goes back within one generator, so refs from it
    are unique even with a coarse clock.

    Example::

        new_ref = make_ref_generator("node-a")
        assert len(new_ref()) == 16
    """
    node_hash = zlib.crc32(seed.encode()) & 0xFFFF
    counter = 0
    last = 0

    def new_ref() -> str:
        nonlocal counter, last
        now = time.time_ns()
        last = now if now > last else last + 1
        counter = (counter + 1) & 0xFFFF
        raw = struct.pack(">QHH", last, node_hash, counter)
        return base64.urlsafe_b64encode(raw).decode("ascii")

    return new_ref


class PresenceTracker(Actor):
    """The process that applies every change to a :class:`Presence`'s state,
    in order, monitors tracked processes and broadcasts the diffs.

    The state belongs to the :class:`Presence`, not to this process (like an
    ETS table with an heir): a restarted tracker keeps it and monitors its
    owners again; the ones that died meanwhile leave at once (``noproc``).
    """

    kind: ClassVar[str] = "service"

    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self.state = presence._state
        self._monitors: dict[Pid[Any], Ref] = {}
        self._new_ref = presence._new_ref

    async def init(self) -> Any:
        for pid in list(self.state.owned):
            self._monitors[pid] = self.monitor(pid)
        self.presence._tracker = self.pid
        self.set_label(("presence", self.presence.name))
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        op, pid, topic, key, meta = request
        if op == "track":
            return Reply(self._track(pid, topic, key, meta))
        if op == "update":
            return Reply(self._update(pid, topic, key, meta))
        if op == "untrack":
            return Reply(self._untrack(pid, topic, key))
        raise Misuse(f"presence tracker: unknown request {op!r}")

    async def handle_info(self, message: Any) -> Any:
        if message.__class__ is Down and self._monitors.get(message.pid) == message.ref:
            del self._monitors[message.pid]
            self._leave_all(message.pid)
            return None
        return await super().handle_info(message)

    def _track(self, pid: Pid[Any], topic: str, key: str, meta: Meta) -> Any:
        state = self.state
        if state.lookup(pid, topic, key) is not None:
            return AlreadyTracked(pid, topic, key)
        ref = self._new_ref()
        meta = {**meta, "phx_ref": ref}
        state.add(state.next_tag(), Entry(topic, key, pid, meta))
        if pid not in self._monitors:
            self._monitors[pid] = self.monitor(pid)
        self.presence._diff(topic, {key: [meta]}, {})
        return ref

    def _update(self, pid: Pid[Any], topic: str, key: str, meta: Any) -> Any:
        state = self.state
        tag = state.lookup(pid, topic, key)
        if tag is None:
            return NoPresence(pid, topic, key)
        old = state.entries[tag].meta
        if callable(meta):
            try:
                meta = meta(old)
            except Exception as exc:  # the caller's function: its error is the caller's
                return exc
            if not isinstance(meta, dict):
                return Misuse(f"update's meta function must return a dict, got {meta!r:.100}")
        ref = self._new_ref()
        new = {**meta, "phx_ref": ref, "phx_ref_prev": old["phx_ref"]}
        state.remove(tag)
        state.add(state.next_tag(), Entry(topic, key, pid, new))
        self.presence._diff(topic, {key: [new]}, {key: [old]})
        return ref

    def _untrack(self, pid: Pid[Any], topic: str, key: str) -> str:
        state = self.state
        tag = state.lookup(pid, topic, key)
        if tag is None:
            return "ok"
        entry = state.remove(tag)
        assert entry is not None
        if pid not in state.owned:
            ref = self._monitors.pop(pid, None)
            if ref is not None:
                self.demonitor(ref, flush=True)
        self.presence._diff(topic, {}, {key: [entry.meta]})
        return "ok"

    def _leave_all(self, pid: Pid[Any]) -> None:
        # One diff per topic, holding every key the process left there.
        by_topic: dict[str, dict[str, list[Meta]]] = {}
        for tag in self.state.tags_of(pid):
            entry = self.state.remove(tag)
            if entry is not None:
                by_topic.setdefault(entry.topic, {}).setdefault(entry.key, []).append(entry.meta)
        for topic, leaves in by_topic.items():
            self.presence._diff(topic, {}, leaves)

    def summary(self) -> Any:
        info: dict[str, Any] = {**self.presence.summary(), "monitored": len(self._monitors)}
        info.update(replica=self.state.replica, clock=self.state.clock)
        return info


class Presence:
    """Presence tracking for the channels of one node (Phoenix.Presence).

    Subclass and override :meth:`fetch` to add data to what clients get.

    Args:
        pubsub: where diffs are broadcast (``local_broadcast`` on the topic).
        name: registered name of the tracker process (and its child spec id).

    Example::

        class AppPresence(Presence):
            def fetch(self, topic, presences):
                return {k: {**v, "user": users[k]} for k, v in presences.items()}

        # in a channel, after join:
        await presence.track(self.pid, socket.topic, user_id, {"online_at": now})
        socket.push("presence_state", presence.list(socket.topic))
    """

    def __init__(self, pubsub: PubSub, *, name: str = "bitnexus.presence") -> None:
        self.pubsub = pubsub
        self.node = pubsub.node
        self.name = name
        self._state = PresenceState(f"{name}@{secrets.token_hex(6)}")
        # Here rather than in the tracker, so refs stay unique across its restarts.
        self._new_ref = make_ref_generator(self._state.replica)
        self._tracker: Pid[Any] | None = None

    def child_specs(self) -> list[ChildSpec]:
        """The tracker to put in the application tree, before the channels."""
        return [ChildSpec.for_actor(PresenceTracker, self, id=self.name, name=self.name)]

    # -- changes (calls into the tracker) -----------------------------------
    async def track(self, pid: Pid[Any], topic: str, key: Any, meta: Meta) -> str:
        """Track ``pid`` under ``key`` on ``topic``; returns the new ``phx_ref``.

        Raises:
            AlreadyTracked: ``pid`` already tracks ``key`` on ``topic``.
            NoProcess: the tracker is not running.

        Example::

            ref = await presence.track(self.pid, "room:1", user_id, {"status": "online"})
        """
        _check(pid, topic)
        if not isinstance(meta, dict):
            raise Misuse(f"presence meta must be a dict, got {meta!r:.100}")
        return await self._call(("track", pid, topic, str(key), meta))  # type: ignore[no-any-return]

    async def update(
        self, pid: Pid[Any], topic: str, key: Any, meta: Meta | Callable[[Meta], Meta]
    ) -> str:
        """Replace the meta of a tracked presence; returns the new ``phx_ref``.
        ``meta`` may be a function of the old meta. The new meta carries
        ``phx_ref_prev``; one diff has the key in joins and leaves.

        Raises:
            NoPresence: nothing is tracked for (pid, topic, key).

        Example::

            await presence.update(self.pid, "room:1", user_id, lambda m: {**m, "status": "away"})
        """
        _check(pid, topic)
        if not (isinstance(meta, dict) or callable(meta)):
            raise Misuse(f"presence meta must be a dict or a function, got {meta!r:.100}")
        return await self._call(("update", pid, topic, str(key), meta))  # type: ignore[no-any-return]

    async def untrack(self, pid: Pid[Any], topic: str, key: Any) -> None:
        """Stop tracking ``pid`` under ``key`` on ``topic`` (no error if it was not).

        Example::

            await presence.untrack(self.pid, "room:1", user_id)
        """
        _check(pid, topic)
        await self._call(("untrack", pid, topic, str(key), None))

    async def _call(self, request: tuple[Any, ...]) -> Any:
        tracker = self._tracker
        if tracker is None or not tracker.alive:
            tracker = self._tracker = self.node.resolve(self.name)
        result = await tracker.call(request)
        if isinstance(result, Exception):
            raise result
        return result

    # -- reads (no call) -----------------------------------------------------
    def list(self, topic: str) -> Presences:
        """Everyone on ``topic``: ``{key: {"metas": [meta, ...]}}`` after :meth:`fetch`.

        The metas are the tracker's own dicts: read them, do not change them.

        Example::

            socket.push("presence_state", presence.list(socket.topic))
        """
        keys = self._state.topics.get(topic)
        if not keys:
            return self.fetch(topic, {})
        return self.fetch(topic, {key: {"metas": list(ms.values())} for key, ms in keys.items()})

    def get_by_key(self, topic: str, key: Any) -> dict[str, Any] | None:
        """``{"metas": [...]}`` (after :meth:`fetch`) for one key, or None.

        Example::

            presence.get_by_key("room:1", "ada")   # {"metas": [{"phx_ref": ...}]}
        """
        key = str(key)
        metas = self._state.topics.get(topic, {}).get(key)
        if not metas:
            return None
        return self.fetch(topic, {key: {"metas": list(metas.values())}}).get(key)

    def fetch(self, topic: str, presences: Presences) -> Presences:
        """Hook: add data to presences before they reach clients (``list``,
        ``get_by_key`` and both maps of every diff). Runs in the caller for
        reads and in the tracker for diffs; keep it fast and do not mutate
        the metas. The default returns ``presences`` unchanged."""
        return presences

    def summary(self) -> dict[str, int]:
        """Counts for the admin view: ``{"topics": n, "presences": m}``."""
        return {"topics": len(self._state.topics), "presences": len(self._state.entries)}

    def _diff(self, topic: str, joins: _MetasByKey, leaves: _MetasByKey) -> None:
        if not self.pubsub.subscriber_count(topic):
            return  # diffs are local (§4.1): nobody here to tell, so skip fetch too
        try:
            payload = {
                "joins": self.fetch(topic, {key: {"metas": ms} for key, ms in joins.items()}),
                "leaves": self.fetch(topic, {key: {"metas": ms} for key, ms in leaves.items()}),
            }
        except Exception:  # the state already changed; crashing would only lose the reply
            _log.exception("presence fetch failed on %r; diff not sent", topic)
            return
        self.pubsub.local_broadcast(topic, Broadcast(topic, "presence_diff", payload))


def _check(pid: Any, topic: Any) -> None:
    if pid.__class__ is not Pid:
        raise Misuse(f"presence tracks processes: expected a Pid, got {pid!r:.100}")
    if not isinstance(topic, str):
        raise Misuse(f"topics are strings, got {topic!r:.100}")
