"""Observer-style views of a node's processes: JSON-safe, filtered, paged.

Filtering and sorting read a few plain fields of each live process (kind,
name, parent, label, counters); snapshots (:meth:`Node.info`, which runs
``summary()``) are taken for the page only. A :class:`TreeIndex` groups pids by
parent and is rebuilt only when processes come or go, so listing one
supervisor's children on a quiet 100,000-process node costs only the page.

Example::

    sampler, index = RateSampler(node), TreeIndex(node)   # sample every second
    page = tree_page(node, TreeQuery(kind="channel", limit=100),
                     rates=sampler.rates, index=index)
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bitnexus.actors import Node, Pid
from bitnexus.admin.render import REDACTED, process_view, redact, safe

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "REDACTED",
    "ROOT",
    "SORTS",
    "RateSampler",
    "TreeIndex",
    "TreeQuery",
    "parse_pid",
    "process_detail",
    "process_view",
    "redact",
    "tree_page",
]

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
"""No page holds more processes than this, whatever ``limit`` asks for."""
ROOT = "root"
"""``TreeQuery(parent=ROOT)``: processes without a live parent."""
_MAX_ROOTS = 100


def parse_pid(node: Node, text: str) -> Pid[Any] | None:
    """``"<0.42.0>"``, ``"0.42.0"`` or ``"42"`` → the live pid, or None.

    Example::

        parse_pid(node, "<0.42.0>")    # Pid or None when dead / another node
    """
    raw = text.strip().strip("<>")
    parts = raw.split(".")
    try:
        serial = int(parts[1]) if len(parts) == 3 else int(raw)
    except (ValueError, IndexError):
        return None
    if len(parts) == 3 and parts[0] != str(node.node_id):
        return None
    return node.lookup_pid(serial)


class RateSampler:
    """Messages handled per second, per process and for the whole node.

    Reads only counters, so sampling 100,000 processes takes milliseconds.

    Example::

        sampler = RateSampler(node)
        sampler.sample(); ...; sampler.sample()
        sampler.rates[pid], sampler.total_rate
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._last: dict[int, int] = {}  # serial -> handled
        self._last_at: float | None = None
        self._last_total = 0
        self.rates: dict[Pid[Any], float] = {}
        self.total_rate = 0.0
        """Messages per second over the last interval, dead processes included."""

    def sample(self) -> None:
        """Take one sample; rates cover the time since the previous one."""
        now = time.monotonic()
        node = self.node
        before, since = self._last, self._last_at
        elapsed = now - since if since is not None else 0.0
        fresh = node.handled_counts()
        rates: dict[Pid[Any], float] = {}
        if elapsed > 0:
            for serial, handled in fresh.items():
                previous = before.get(serial)
                if previous is not None and handled > previous:
                    pid = node.lookup_pid(serial)
                    if pid is not None:
                        rates[pid] = (handled - previous) / elapsed
        total = sum(fresh.values()) + node.handled_by_dead
        if elapsed > 0:
            self.total_rate = max(0, total - self._last_total) / elapsed
        self._last, self._last_at, self._last_total = fresh, now, total
        self.rates = rates


# -- the tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TreeQuery:
    """Filters and paging for :func:`tree_page`.

    Attributes:
        kind: only this kind (``worker``, ``supervisor``, ``channel``, ...).
        name_prefix: only processes whose registered name starts with this.
        topic: only processes on this topic: a label ending with it (channels
            are labelled ``("channel", topic)``) or, for unlabelled processes,
            ``summary()["topic"]``.
        parent: only children of this pid (text), or :data:`ROOT` for roots.
        status: only this status (``running``, ``waiting``, ``exiting``, ...).
        sort: one of :data:`SORTS` (largest first; ``uptime`` oldest first),
            or None for spawn order.
        offset: matches to skip.
        limit: page size, at most :data:`MAX_LIMIT`.
    """

    kind: str | None = None
    name_prefix: str | None = None
    topic: str | None = None
    parent: str | None = None
    status: str | None = None
    sort: str | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT


_PROC = operator.attrgetter("_proc")


def _topic_matches(proc: Any, topic: str) -> bool:
    label = proc.label
    if isinstance(label, tuple):
        # Channels label themselves ("channel", topic); the topic comes last.
        return len(label) > 1 and label[-1] == topic
    try:
        summary = proc.actor.summary()
    except Exception:  # a broken summary matches nothing
        return False
    return isinstance(summary, dict) and summary.get("topic") == topic


def _filter(q: TreeQuery, procs: list[Any]) -> list[Any]:
    """Kind, status, name and topic tests (the parent is chosen by the index)."""
    tests: list[Callable[[Any], bool]] = []
    if q.kind is not None:
        kind = q.kind
        tests.append(lambda p: getattr(p.actor, "kind", "worker") == kind)
    if q.status is not None:
        status = q.status
        tests.append(lambda p: p.status == status)
    if q.name_prefix is not None:
        prefix = q.name_prefix
        tests.append(lambda p: p.names is not None and str(p.names[0]).startswith(prefix))
    if q.topic is not None:
        topic = q.topic
        tests.append(lambda p: _topic_matches(p, topic))
    for test in tests:
        procs = [p for p in procs if test(p)]
    return procs


SORTS: dict[str, Callable[[Any, dict[Pid[Any], float]], Any]] = {
    "mailbox": lambda p, _r: -p.mailbox_len(),
    "restarts": lambda p, _r: -p.restarts,
    "rate": lambda p, r: -r.get(p.pid, 0.0),
    "handled": lambda p, _r: -p.handled,
    "uptime": lambda p, _r: p.started_at,
}
"""Sort orders a :class:`TreeQuery` may name."""


class TreeIndex:
    """Live pids grouped by parent, rebuilt only when a process was spawned or exited.

    Polling a quiet 100,000-process node then costs a dictionary lookup per
    expanded supervisor instead of a pass over every process. It holds pids,
    never processes, so it keeps nothing alive.

    Example::

        index = TreeIndex(node)
        tree_page(node, TreeQuery(parent=str(sup)), index=index)
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._key: tuple[int, int] | None = None
        self._all: list[Pid[Any]] = []
        self._roots: list[Pid[Any]] = []
        self._by_parent: dict[int, list[Pid[Any]]] = {}

    def current(self) -> tuple[list[Pid[Any]], list[Pid[Any]], dict[int, list[Pid[Any]]]]:
        """``(every pid, root pids, parent serial -> child pids)``, in spawn order."""
        node = self.node
        # Any spawn moves spawned_total and any exit moves len(node), so an
        # unchanged key means the same processes with the same parents.
        key = (node.spawned_total, len(node))
        if key != self._key:
            pids = list(node.pids())
            roots: list[Pid[Any]] = []
            by_parent: dict[int, list[Pid[Any]]] = {}
            for pid in pids:
                proc = pid._proc
                parent = proc.parent if proc is not None else None
                if parent is None or parent._proc is None:
                    roots.append(pid)
                else:
                    # Serials, not pids: hashing an int is far cheaper.
                    siblings = by_parent.get(parent.serial)
                    if siblings is None:
                        by_parent[parent.serial] = [pid]
                    else:
                        siblings.append(pid)
            self._key, self._all, self._roots, self._by_parent = key, pids, roots, by_parent
        return self._all, self._roots, self._by_parent

    def children(self, pid: Pid[Any]) -> list[Pid[Any]]:
        """The live children of ``pid``, in spawn order."""
        return self.current()[2].get(pid.serial, [])


def tree_page(
    node: Node,
    query: TreeQuery,
    *,
    rates: dict[Pid[Any], float] | None = None,
    index: TreeIndex | None = None,
) -> dict[str, Any]:
    """The supervision tree as a flat, filtered, paged list with parent/children links.

    Returns ``{"node", "total", "matched", "offset", "limit", "next_offset",
    "roots", "processes": [process_view, ...]}``; ``next_offset`` is None on
    the last page. Pass a long-lived ``index`` to make repeated calls cheap.

    Example::

        tree_page(node, TreeQuery(parent=ROOT))["processes"][0]["pid"]
    """
    rates = rates or {}
    index = index if index is not None else TreeIndex(node)
    every, roots, by_parent = index.current()
    if query.parent == ROOT:
        candidates = roots
    elif query.parent is not None:
        parent = parse_pid(node, query.parent)
        # A dead or unknown parent has no live children.
        candidates = by_parent.get(parent.serial, []) if parent is not None else []
    else:
        candidates = every
    limit = max(1, min(query.limit, MAX_LIMIT))
    offset = max(0, query.offset)
    selected: list[Any]
    if query.sort is None and query == TreeQuery(parent=query.parent, offset=offset, limit=limit):
        # Nothing to test or order: the index is current, so every pid is live.
        selected = candidates
    else:
        selected = _filter(query, [p for p in map(_PROC, candidates) if p is not None])
        if query.sort in SORTS:
            key = SORTS[query.sort]
            selected = sorted(selected, key=lambda p: key(p, rates))
        selected = [p.pid for p in selected]
    now = time.time()
    page = []
    for pid in selected[offset : offset + limit]:
        info = node.info(pid)
        if info is not None:
            children = by_parent.get(pid.serial, [])
            page.append(process_view(info, rates=rates, children=children, now=now))
    end = offset + limit
    return {
        "node": node.node_id,
        "total": len(node),
        "matched": len(selected),
        "offset": offset,
        "limit": limit,
        "next_offset": end if end < len(selected) else None,
        "roots": [str(pid) for pid in roots[:_MAX_ROOTS]],
        "processes": page,
    }


# -- one process ---------------------------------------------------------------------


def process_detail(
    node: Node,
    pid: Pid[Any],
    *,
    rates: dict[Pid[Any], float] | None = None,
    head: int = 5,
    index: TreeIndex | None = None,
) -> dict[str, Any] | None:
    """One process in detail, or None if it is not alive.

    Adds to :func:`process_view`: links, monitors, monitored_by, all
    registered names, the mailbox head (first ``head`` messages, redacted),
    the restart history and last crash from its supervisor, and for a channel
    its topic and socket id, for a connection its transport and peer.

    Example::

        detail = process_detail(node, pid)
        detail["history"]["last_crash"]      # None or {"reason", "traceback", ...}
    """
    info = node.info(pid)
    proc = pid._proc
    if info is None or proc is None:
        return None
    kids = (index if index is not None else TreeIndex(node)).children(pid)
    view = process_view(info, rates=rates or {}, children=kids, now=time.time())
    view.update(
        {
            "names": [safe(n) for n in (proc.names or ())],
            "links": [str(p) for p in info.links],
            "monitors": [str(p) for p in info.monitors],
            "monitored_by": [str(p) for p in info.monitored_by],
            "trap_exit": info.trap_exit,
            "started_at": info.started_at,
            "mailbox_head": [
                {"kind": kind, "message": redact(msg)}
                for kind, msg in proc.mailbox_head(max(0, min(head, 20)))
            ],
            "history": _history(pid),
        }
    )
    summary = info.summary if isinstance(info.summary, dict) else {}
    if info.kind == "channel":
        view["channel"] = {
            k: safe(summary.get(k)) for k in ("topic", "socket_id", "transport", "connection")
        }
    elif info.kind == "connection":
        view["connection"] = {
            k: safe(summary.get(k)) for k in ("transport", "peer", "socket_id", "serializer")
        }
    return view


def _history(pid: Pid[Any]) -> dict[str, Any]:
    """Restart history and last crash of the child spec behind ``pid``, from its supervisor."""
    proc = pid._proc
    parent = proc.parent if proc is not None else None
    sup = parent._proc.actor if parent is not None and parent._proc is not None else None
    finder = getattr(sup, "child_history", None)
    if finder is None:
        return {"restarts": [], "last_crash": None}
    return finder(pid)  # type: ignore[no-any-return]
