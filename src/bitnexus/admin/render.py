"""JSON rendering of processes for the admin views: size-capped, JSON-safe,
with secrets redacted.

Example::

    redact({"email": "a@b.c", "password": "hunter2"})
    # {"email": "a@b.c", "password": "[REDACTED]"}
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

from bitnexus.actors import Pid, ProcessInfo

__all__ = ["REDACTED", "process_view", "redact", "safe"]

_CHILDREN_SHOWN = 50


def safe(value: Any, depth: int = 0) -> Any:
    """JSON-safe, size-capped rendering of a summary, label or message.

    Example::

        safe({"pid": pid, "blob": b"..."})     # {"pid": "<0.4.0>", "blob": "<3 bytes>"}
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "…"
    if isinstance(value, Pid):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if depth >= 3:
        return repr(value)[:80]
    if isinstance(value, dict):
        return {str(k)[:80]: safe(v, depth + 1) for k, v in list(value.items())[:30]}
    if isinstance(value, list | tuple | set | frozenset):
        return [safe(v, depth + 1) for v in list(value)[:30]]
    return repr(value)[:200]


_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authorization|cookie|api_?key|pwd", re.I
)
_SECRET_TEXT = re.compile(
    r"pass(word|wd|phrase)|secret|token|authorization|bearer\s|eyJ[A-Za-z0-9_-]{8,}", re.I
)
REDACTED = "[REDACTED]"


def redact(value: Any, depth: int = 0) -> Any:
    """Like the JSON-safe rendering, with secrets hidden.

    Values under a secret-looking key (password, token, secret, authorization,
    cookie, api key) are replaced; so is any text or repr that mentions one or
    looks like a JWT. Dataclasses (protocol messages) are shown field by field.

    Example::

        redact({"email": "a@b.c", "password": "hunter2"})
        # {"email": "a@b.c", "password": "[REDACTED]"}
    """
    if value is None or isinstance(value, bool | int | float | Pid):
        return safe(value)
    if isinstance(value, str):
        return REDACTED if _SECRET_TEXT.search(value) else safe(value)
    if isinstance(value, bytes | bytearray):
        return safe(value)
    if depth >= 3:
        text = repr(value)
        return REDACTED if _SECRET_TEXT.search(text) else text[:80]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in list(value.items())[:30]:
            name = str(key)[:80]
            out[name] = REDACTED if _SECRET_KEY.search(name) else redact(item, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, depth + 1) for v in list(value)[:30]]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **redact(fields, depth + 1)}
    text = repr(value)
    return REDACTED if _SECRET_TEXT.search(text) else text[:200]


def _memory_estimate(pid: Pid[Any]) -> int | None:
    """Shallow bytes of the process, its actor, the actor's fields and mailbox."""
    proc = pid._proc
    if proc is None:
        return None
    size = sys.getsizeof(proc) + sys.getsizeof(proc.actor)
    state = getattr(proc.actor, "__dict__", {})
    size += sys.getsizeof(state) + sum(sys.getsizeof(v) for v in state.values())
    if proc.mailbox:
        size += sys.getsizeof(proc.mailbox) + 64 * len(proc.mailbox)
    return size


def process_view(
    info: ProcessInfo,
    *,
    rates: dict[Pid[Any], float],
    children: list[Pid[Any]],
    now: float,
) -> dict[str, Any]:
    """The JSON shape of one process in the tree.

    Example::

        process_view(node.info(pid), rates={}, children=[], now=time.time())["kind"]
    """
    summary = info.summary if isinstance(info.summary, dict) else {}
    return {
        "pid": str(info.pid),
        "name": safe(info.name),
        "kind": info.kind,
        "actor": info.actor,
        "strategy": summary.get("strategy") if info.kind == "supervisor" else None,
        "parent": str(info.parent) if info.parent is not None else None,
        "children": [str(c) for c in children[:_CHILDREN_SHOWN]],
        "children_count": len(children),
        "mailbox_len": info.mailbox_len,
        "handled": info.handled,
        "rate": round(rates.get(info.pid, 0.0), 2),
        "restarts": info.restarts,
        "uptime": round(max(0.0, now - info.started_at), 3),
        "memory_estimate": _memory_estimate(info.pid),
        "status": info.status,
        "label": redact(info.label),
        "summary": redact(info.summary),
    }
