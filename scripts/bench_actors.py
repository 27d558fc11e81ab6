#!/usr/bin/env python
"""Benchmark BitNexus actors against pykka threads and a bare asyncio actor.

Measures, per runtime: time to spawn one actor (until its init ran), resident
memory per idle actor, one-way message throughput (one sender, one actor) and
the round trip of a sequential call. Each case runs in a fresh subprocess of
this script, so memory figures never mix.

Usage::

    python scripts/bench_actors.py              # table
    python scripts/bench_actors.py --json       # one JSON object
    python scripts/bench_actors.py --quick      # small N, for smoke tests
    python scripts/bench_actors.py --no-uvloop  # the default asyncio loop

Run it from the repository (``src`` is put on the path if BitNexus is not
installed). Targets come from the runtime design: an actor costs at most 3 KB
and 10 µs to spawn, a cast path carries 1.5M messages/s, a call takes 10 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

__all__ = ["main"]

FULL = {
    "spawn_n": 100_000,
    "casts": 1_000_000,
    "calls": 20_000,
    "pykka_spawn_n": 2_000,
    "pykka_tells": 200_000,
    "pykka_asks": 5_000,
}
QUICK = {
    "spawn_n": 10_000,
    "casts": 50_000,
    "calls": 2_000,
    "pykka_spawn_n": 300,
    "pykka_tells": 20_000,
    "pykka_asks": 500,
}
PACE = 1_000
"""The sender yields to the loop after this many casts, as a real producer would."""

METRICS = [
    "spawn_us",
    "bytes_per_actor",
    "cast_per_s",
    "call_us",
    "pykka_spawn_us",
    "pykka_bytes_per_actor",
    "pykka_tell_per_s",
    "pykka_ask_us",
    "asyncio_spawn_us",
    "asyncio_bytes_per_actor",
    "asyncio_cast_per_s",
    "asyncio_call_us",
]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    """Resident bytes of this process, after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _import_bitnexus() -> None:
    try:
        import bitnexus  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


# -- BitNexus ------------------------------------------------------------------------------------


async def _bitnexus_spawn(sizes: dict[str, int]) -> dict[str, float]:
    from bitnexus.actors import Actor, Node, Reply

    class Idle(Actor):
        async def handle_call(self, request: Any, from_: Any) -> Any:
            return Reply(request)

    n = sizes["spawn_n"]
    node = Node()
    before = _rss()
    began = time.perf_counter()
    pids = [node.spawn(Idle) for _ in range(n)]
    # Inits run in spawn order, so once the last one answers every init ran.
    await pids[-1].call("ready")
    elapsed = time.perf_counter() - began
    grown = _rss() - before
    assert len(node) == n
    await node.shutdown()
    return {"spawn_us": elapsed / n * 1e6, "bytes_per_actor": grown / n}


async def _bitnexus_messages(sizes: dict[str, int]) -> dict[str, float]:
    from bitnexus.actors import Actor, Node, Reply

    class Counter(Actor):
        def __init__(self) -> None:
            self.count = 0

        async def handle_cast(self, message: Any) -> None:
            self.count += 1

        async def handle_call(self, request: Any, from_: Any) -> Any:
            return Reply(self.count)

    node = Node()
    pid = await node.start(Counter)
    casts = sizes["casts"]
    began = time.perf_counter()
    for i in range(casts):
        pid.cast(i)
        if i % PACE == PACE - 1:
            await asyncio.sleep(0)
    handled = await pid.call("count")  # the mailbox is FIFO: this marks the end
    cast_elapsed = time.perf_counter() - began
    assert handled == casts, handled

    calls = sizes["calls"]
    began = time.perf_counter()
    for _ in range(calls):
        await pid.call("count")
    call_elapsed = time.perf_counter() - began
    await node.shutdown()
    return {"cast_per_s": casts / cast_elapsed, "call_us": call_elapsed / calls * 1e6}


# -- bare asyncio: one Task reading one Queue ------------------------------------------------------


class _AioActor:
    """The smallest useful asyncio actor: a task draining a queue."""

    __slots__ = ("count", "queue", "task")

    def __init__(self) -> None:
        self.count = 0
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        queue = self.queue
        while True:
            message = await queue.get()
            if message.__class__ is asyncio.Future:
                message.set_result(self.count)
            elif message is None:
                return
            else:
                self.count += 1

    def cast(self, message: Any) -> None:
        self.queue.put_nowait(message)

    async def call(self) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(fut)
        return await fut


async def _asyncio_spawn(sizes: dict[str, int]) -> dict[str, float]:
    n = sizes["spawn_n"]
    before = _rss()
    began = time.perf_counter()
    actors = [_AioActor() for _ in range(n)]
    await actors[-1].call()  # tasks start in creation order
    elapsed = time.perf_counter() - began
    grown = _rss() - before
    for actor in actors:
        actor.cast(None)
    await asyncio.gather(*(actor.task for actor in actors))
    return {"asyncio_spawn_us": elapsed / n * 1e6, "asyncio_bytes_per_actor": grown / n}


async def _asyncio_messages(sizes: dict[str, int]) -> dict[str, float]:
    actor = _AioActor()
    casts = sizes["casts"]
    began = time.perf_counter()
    for i in range(casts):
        actor.cast(i)
        if i % PACE == PACE - 1:
            await asyncio.sleep(0)
    handled = await actor.call()
    cast_elapsed = time.perf_counter() - began
    assert handled == casts, handled

    calls = sizes["calls"]
    began = time.perf_counter()
    for _ in range(calls):
        await actor.call()
    call_elapsed = time.perf_counter() - began
    actor.cast(None)
    await actor.task
    return {
        "asyncio_cast_per_s": casts / cast_elapsed,
        "asyncio_call_us": call_elapsed / calls * 1e6,
    }


# -- pykka ThreadingActor --------------------------------------------------------------------------


def _pykka_spawn(sizes: dict[str, int]) -> dict[str, float]:
    import pykka

    class Idle(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message

    n = sizes["pykka_spawn_n"]
    before = _rss()
    began = time.perf_counter()
    refs = [Idle.start() for _ in range(n)]
    refs[-1].ask("ready")  # on_start ran in every thread started before it
    elapsed = time.perf_counter() - began
    time.sleep(0.2)  # let every thread settle before reading the RSS
    grown = _rss() - before
    pykka.ActorRegistry.stop_all()
    return {"pykka_spawn_us": elapsed / n * 1e6, "pykka_bytes_per_actor": grown / n}


def _pykka_messages(sizes: dict[str, int]) -> dict[str, float]:
    import pykka

    class Counter(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_receive(self, message: Any) -> Any:
            if message == "count":
                return self.count
            self.count += 1
            return None

    ref = Counter.start()
    tells = sizes["pykka_tells"]
    began = time.perf_counter()
    for i in range(tells):
        ref.tell(i)
    handled = ref.ask("count")
    tell_elapsed = time.perf_counter() - began
    assert handled == tells, handled

    asks = sizes["pykka_asks"]
    began = time.perf_counter()
    for _ in range(asks):
        ref.ask("count")
    ask_elapsed = time.perf_counter() - began
    pykka.ActorRegistry.stop_all()
    return {"pykka_tell_per_s": tells / tell_elapsed, "pykka_ask_us": ask_elapsed / asks * 1e6}


CASES: dict[str, Callable[[dict[str, int]], Any]] = {
    "bitnexus_spawn": _bitnexus_spawn,
    "bitnexus_messages": _bitnexus_messages,
    "asyncio_spawn": _asyncio_spawn,
    "asyncio_messages": _asyncio_messages,
    "pykka_spawn": _pykka_spawn,
    "pykka_messages": _pykka_messages,
}


def _run_loop(coro: Coroutine[Any, Any, Any], use_uvloop: bool) -> tuple[Any, str]:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro), "uvloop"
    return asyncio.run(coro), "asyncio"


def run_case(name: str, sizes: dict[str, int], use_uvloop: bool) -> dict[str, Any]:
    """Run one case in this process and return its figures."""
    _import_bitnexus()
    case = CASES[name]
    if inspect.iscoroutinefunction(case):
        result, loop = _run_loop(case(sizes), use_uvloop)
        result["loop"] = loop
        return result  # type: ignore[no-any-return]
    return case(sizes)  # type: ignore[no-any-return]


def run_all(quick: bool, use_uvloop: bool) -> dict[str, Any]:
    """Run every case in its own subprocess and merge the figures."""
    results: dict[str, Any] = {}
    loops = set()
    for name in CASES:
        argv = [sys.executable, str(Path(__file__).resolve()), "--case", name]
        if quick:
            argv.append("--quick")
        if not use_uvloop:
            argv.append("--no-uvloop")
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"case {name} failed:\n{done.stderr}")
        figures = json.loads(done.stdout)
        loop = figures.pop("loop", None)
        if loop is not None:
            loops.add(loop)
        results.update(figures)
    results["loop"] = "/".join(sorted(loops))
    results["quick"] = quick
    results["sizes"] = QUICK if quick else FULL
    results["python"] = sys.version.split()[0]
    return results


# -- reporting -------------------------------------------------------------------------------------

ROWS = [
    # label, bitnexus key, pykka key, asyncio key, target, its label, lower is better
    ("spawn (µs/actor)", "spawn_us", "pykka_spawn_us", "asyncio_spawn_us",
     10.0, "<= 10 µs", True),
    ("memory (bytes/actor)", "bytes_per_actor", "pykka_bytes_per_actor", "asyncio_bytes_per_actor",
     3 * 1024.0, "<= 3 KB", True),
    ("cast / tell (msgs/s)", "cast_per_s", "pykka_tell_per_s", "asyncio_cast_per_s",
     1.5e6, ">= 1.5M/s", False),
    ("call / ask (µs)", "call_us", "pykka_ask_us", "asyncio_call_us",
     10.0, "<= 10 µs", True),
]  # fmt: skip


def _fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}"


def table(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    header = ["metric", "bitnexus", "pykka", "bare asyncio", "target", "met", "vs pykka"]
    lines = [header]
    for label, ours, pykka_key, aio, target, target_label, lower in ROWS:
        value, theirs = results[ours], results[pykka_key]
        met = value <= target if lower else value >= target
        ratio = theirs / value if lower else value / theirs
        lines.append(
            [
                label,
                _fmt(value),
                _fmt(theirs),
                _fmt(results[aio]),
                target_label,
                "yes" if met else "NO",
                f"{ratio:.1f}x better" if ratio >= 1 else f"{1 / ratio:.1f}x worse",
            ]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    sizes = results["sizes"]
    out.append("")
    out.append(
        f"loop: {results['loop']}  python {results['python']}  "
        f"N={sizes['spawn_n']:,} actors ({sizes['pykka_spawn_n']:,} pykka), "
        f"{sizes['casts']:,} casts ({sizes['pykka_tells']:,} tells), "
        f"{sizes['calls']:,} calls ({sizes['pykka_asks']:,} asks)"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    use_uvloop = not args.no_uvloop
    if args.case:
        sizes = QUICK if args.quick else FULL
        print(json.dumps(run_case(args.case, sizes, use_uvloop)))
        return 0
    results = run_all(args.quick, use_uvloop)
    if args.json:
        print(json.dumps(results))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
