"""``bitnexus tree``: print a running server's supervision tree, like observer_cli.

Reads ``BITNEXUS_URL`` (default ``http://127.0.0.1:4000``) and
``BITNEXUS_TOKEN`` (an admin access token) from the environment and walks
``GET /admin/api/tree`` from the roots down, a bounded number of children per
supervisor. With a filter (kind, name, topic) it prints the matches as a flat
list instead. Standard library only: no aiohttp, no event loop.

Example::

    $ BITNEXUS_TOKEN=eyJ... bitnexus tree --children 5
    PROCESS                  KIND                    STATUS    MAILBOX HANDLED  RATE/S RESTARTS
    <0.1.0> app              supervisor/one_for_one  waiting         0       1     0.0        0
      <0.2.0> app.pubsub     service                 waiting         0       1     0.0        0
      <0.5.0> app.workers    supervisor/one_for_one  waiting         0       3     0.0        0
        <0.9.0> app.counter  worker                  waiting         0      42     3.0        2
        ... 7 more
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["DEFAULT_URL", "TreeError", "fetch_tree", "format_rows", "run_tree"]

DEFAULT_URL = "http://127.0.0.1:4000"
_MAX_DEPTH = 16
_TIMEOUT = 10.0


class TreeError(Exception):
    """The server could not be asked (network, 401, 403, bad answer)."""


@dataclass
class Line:
    """One printed line: a process at a depth, or a '... n more' note."""

    depth: int
    process: dict[str, Any] | None
    note: str = ""


Fetch = Callable[[str, dict[str, str]], dict[str, Any]]


def _http_fetch(base: str, token: str) -> Fetch:
    def fetch(path: str, query: dict[str, str]) -> dict[str, Any]:
        url = f"{base.rstrip('/')}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url, headers={"authorization": f"Bearer {token}", "accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                detail = json.loads(exc.read()).get("errors", {}).get("detail", "")
            except (ValueError, AttributeError):
                pass
            raise TreeError(f"{exc.code} from {base}: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TreeError(f"cannot reach {base}: {getattr(exc, 'reason', exc)}") from None

    return fetch


def fetch_tree(
    fetch: Fetch, *, children: int, sort: str | None = None, filters: dict[str, str] | None = None
) -> tuple[list[Line], dict[str, Any]]:
    """The lines to print and the first page (for the totals).

    Without filters: roots, then up to ``children`` children of each process,
    depth first. With filters: up to ``children`` matches, flat.
    """
    base: dict[str, str] = {"sort": sort} if sort else {}
    if filters:
        page = fetch("/admin/api/tree", {**base, **filters, "limit": str(children)})
        lines = [Line(0, p) for p in page["processes"]]
        rest = page["matched"] - len(page["processes"])
        if rest > 0:
            lines.append(Line(0, None, f"... {rest} more matches"))
        return lines, page
    roots = fetch("/admin/api/tree", {**base, "parent": "root", "limit": str(children)})
    lines: list[Line] = []

    def walk(processes: list[dict[str, Any]], depth: int) -> None:
        for proc in processes:
            lines.append(Line(depth, proc))
            if proc["children_count"] and depth < _MAX_DEPTH:
                page = fetch(
                    "/admin/api/tree", {**base, "parent": proc["pid"], "limit": str(children)}
                )
                walk(page["processes"], depth + 1)
                rest = page["matched"] - len(page["processes"])
                if rest > 0:
                    lines.append(Line(depth + 1, None, f"... {rest} more"))

    walk(roots["processes"], 0)
    return lines, roots


_HEADER = ("KIND", "STATUS", "MAILBOX", "HANDLED", "RATE/S", "RESTARTS")


def format_rows(lines: list[Line]) -> list[str]:
    """Aligned text: an indented PROCESS column (pid, then name or actor class), then numbers."""
    labels = []
    for line in lines:
        indent = "  " * line.depth
        proc = line.process
        if proc is None:
            labels.append(indent + line.note)
            continue
        name = proc["name"] if proc["name"] is not None else proc["actor"].rsplit(".", 1)[-1]
        labels.append(f"{indent}{proc['pid']} {name}")
    width = max([len("PROCESS"), *(len(label) for label in labels)]) + 2
    out = ["PROCESS".ljust(width) + _row(_HEADER)]
    for line, label in zip(lines, labels, strict=True):
        proc = line.process
        if proc is None:
            out.append(label)
            continue
        kind = proc["kind"] + (f"/{proc['strategy']}" if proc.get("strategy") else "")
        cells = (
            kind,
            proc["status"],
            str(proc["mailbox_len"]),
            str(proc["handled"]),
            f"{proc['rate']:.1f}",
            str(proc["restarts"]),
        )
        out.append(label.ljust(width) + _row(cells))
    return out


def _row(cells: tuple[str, ...]) -> str:
    kind, status, *numbers = cells
    widths = (8, 8, 8, 9)
    return f"{kind:<24}{status:<9}" + "".join(
        f"{n:>{w}}" for n, w in zip(numbers, widths, strict=True)
    )


def run_tree(
    out: TextIO,
    err: TextIO,
    *,
    children: int = 20,
    sort: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    topic: str | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Print the tree; returns the exit code (0, or 1 when the server refused or is down).

    Example::

        raise SystemExit(run_tree(sys.stdout, sys.stderr, children=10))
    """
    env = os.environ if environ is None else environ
    base = env.get("BITNEXUS_URL") or DEFAULT_URL
    token = env.get("BITNEXUS_TOKEN", "")
    if not token:
        print("bitnexus tree: set BITNEXUS_TOKEN to an admin access token", file=err)
        return 1
    filters = {k: v for k, v in (("kind", kind), ("name", name), ("topic", topic)) if v}
    try:
        lines, page = fetch_tree(
            _http_fetch(base, token), children=max(1, children), sort=sort, filters=filters
        )
    except TreeError as exc:
        print(f"bitnexus tree: {exc}", file=err)
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        print(f"bitnexus tree: unexpected answer from {base}: {exc!r}", file=err)
        return 1
    for text in format_rows(lines):
        print(text, file=out)
    rate = page.get("messages_per_second", 0)
    print(f"\nnode {page['node']}: {page['total']} processes, {rate} msg/s", file=out)
    return 0
