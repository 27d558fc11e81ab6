#!/usr/bin/env python
"""Benchmark the HTTP API against a bare aiohttp handler serving the same JSON.

Two scenarios, each against the platform and against a bare aiohttp app on
the same machine in the same run:

- ``products``: ``GET /api/v1/products?limit=20`` with a bearer token (rate
  limit, JWT, permission, a service call, PostgreSQL, a view);
- ``purchases``: ``POST /api/v1/transactions`` with a fresh Idempotency-Key
  each time, one buyer per client connection (a PostgreSQL transaction that
  locks the buyer, writes the transaction and its events).

The bare app answers the same paths with the bytes the platform answered
(captured once), so the ratio is the cost of the platform's layers. Each
server runs in its own process (uvloop when installed); the load generator
runs in this one, so on a small machine it competes with the servers.

Usage::

    python scripts/bench_http.py              # table
    python scripts/bench_http.py --json       # one JSON object
    python scripts/bench_http.py --quick      # short runs, for smoke tests

PostgreSQL: ``DATABASE_URL`` when set (a fresh database is created on that
server and dropped afterwards), else an embedded server in a temporary
directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

__all__ = ["main"]

FULL = {"concurrency": 32, "duration": 5.0, "products": 20}
QUICK = {"concurrency": 4, "duration": 0.5, "products": 5}
PASSWORD = "bench password 123"
START_TIMEOUT = 60.0
SCENARIOS = ("products", "purchases")
METRICS = [
    f"{who}{scenario}_{figure}"
    for scenario in SCENARIOS
    for who in ("", "bare_")
    for figure in ("rps", "p50_ms", "p99_ms")
] + [f"{scenario}_ratio" for scenario in SCENARIOS]


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- servers (child processes) -------------------------------------------------


def _serve_platform(port: int, dsn: str) -> None:
    from bitnexus.config import load_settings
    from bitnexus.server import build_server
    from bitnexus.web.endpoint import run

    settings = load_settings("test", environ={}).override(
        {
            "database.url": dsn,
            "server.host": "127.0.0.1",
            "server.port": port,
            "log.level": "error",
            "demo.enabled": False,
            "http.rate_limit_per_ip": 1_000_000_000,
            "http.rate_limit_per_user": 1_000_000_000,
        }
    )
    run(settings, build_server(settings))


def _serve_bare(port: int, bodies_file: str) -> None:
    from aiohttp import web

    bodies = json.loads(Path(bodies_file).read_text())
    products = bodies["products"].encode()
    purchase = bodies["purchase"].encode()

    async def list_products(request: web.Request) -> web.Response:
        return web.Response(body=products, content_type="application/json")

    async def buy(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=purchase, status=201, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/products", list_products)
    app.router.add_post("/api/v1/transactions", buy)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, loop=_new_loop())


@contextlib.contextmanager
def _child(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    # stderr to a file, not a pipe nobody reads: a full pipe would stall the server.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        proc.err_file = err  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _wait_healthy(session: Any, base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err_file = proc.err_file  # type: ignore[attr-defined]
            err_file.seek(0)
            err = err_file.read().decode(errors="replace")
            raise SystemExit(f"server exited with {proc.returncode}:\n{err[-3000:]}")
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{base} did not come up within {START_TIMEOUT}s")


# --- load ----------------------------------------------------------------------


async def _load(
    concurrency: int,
    duration: float,
    make: Callable[[int], Callable[[], Awaitable[bool]]],
) -> Result:
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    stop_at = time.perf_counter() + duration

    async def worker(index: int) -> None:
        send = make(index)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            ok = await send()
            latencies.append(time.perf_counter() - started)
            counts["requests"] += 1
            counts["errors"] += 0 if ok else 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return Result(counts["requests"], counts["errors"], time.perf_counter() - started, latencies)


@dataclass
class Buyer:
    token: str
    user_id: int


async def _seed(session: Any, base: str, dsn: str, settings: dict[str, int]) -> Any:
    """Products in the database; one buyer per connection, with a large balance."""
    from bitnexus.repo import Database, queries
    from bitnexus.repo.testing import make_product

    buyers: list[Buyer] = []
    async with Database(dsn=dsn, min_size=1, max_size=2) as db:
        product_ids = [
            (await make_product(db, price_minor=100 + n)).id for n in range(settings["products"])
        ]
        for n in range(settings["concurrency"]):
            email = f"bench-{uuid.uuid4().hex[:10]}-{n}@example.test"
            body = {"email": email, "password": PASSWORD}
            async with session.post(f"{base}/api/v1/auth/register", json=body) as response:
                assert response.status == 201, await response.text()
                user_id = (await response.json())["data"]["id"]
            await queries.credit(db, user_id, 10**14)
            async with session.post(f"{base}/api/v1/auth/login", json=body) as response:
                assert response.status == 200, await response.text()
                token = (await response.json())["data"]["access_token"]
            buyers.append(Buyer(token, user_id))
    return buyers, product_ids


def _scenario(
    session: Any, base: str, name: str, buyers: list[Buyer], product_id: int
) -> Callable[[int], Callable[[], Awaitable[bool]]]:
    def make(index: int) -> Callable[[], Awaitable[bool]]:
        auth = {"Authorization": f"Bearer {buyers[index % len(buyers)].token}"}
        if name == "products":
            url = f"{base}/api/v1/products?limit=20"

            async def send() -> bool:
                async with session.get(url, headers=auth) as response:
                    await response.read()
                    return response.status == 200

            return send
        url = f"{base}/api/v1/transactions"
        payload = json.dumps({"product_id": product_id}).encode()

        async def buy() -> bool:
            headers = {
                **auth,
                "Idempotency-Key": uuid.uuid4().hex,
                "Content-Type": "application/json",
            }
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
                return response.status == 201

        return buy

    return make


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from bitnexus.repo.testing import fresh_database, postgres_test_server

    settings = dict(QUICK if args.quick else FULL)
    if args.concurrency:
        settings["concurrency"] = args.concurrency
    duration = args.duration or float(settings["duration"])
    results: dict[str, Any] = {
        "quick": args.quick,
        "loop": _loop_name(),
        "concurrency": settings["concurrency"],
        "duration_s": duration,
    }
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres_test_server())
        async with contextlib.AsyncExitStack() as astack:
            dsn = await astack.enter_async_context(fresh_database(server.dsn, server.template))
            connector = aiohttp.TCPConnector(limit=settings["concurrency"] * 2)
            session = await astack.enter_async_context(aiohttp.ClientSession(connector=connector))
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            proc = stack.enter_context(
                _child("--serve", "platform", "--port", str(port), "--dsn", dsn)
            )
            await _wait_healthy(session, base, proc)
            buyers, product_ids = await _seed(session, base, dsn, settings)

            bodies = {}
            auth = {"Authorization": f"Bearer {buyers[0].token}"}
            async with session.get(f"{base}/api/v1/products?limit=20", headers=auth) as response:
                bodies["products"] = await response.text()
            async with session.post(
                f"{base}/api/v1/transactions", json={"product_id": product_ids[0]}, headers=auth
            ) as response:
                bodies["purchase"] = await response.text()
            for name in SCENARIOS:
                make = _scenario(session, base, name, buyers, product_ids[0])
                await _load(settings["concurrency"], min(duration, 0.5) / 2, make)  # warm up
                outcome = await _load(settings["concurrency"], duration, make)
                _record(results, name, outcome)
            proc.terminate()

            bodies_file = Path(stack.enter_context(_tempdir())) / "bodies.json"
            bodies_file.write_text(json.dumps(bodies))
            bare_port = _free_port()
            bare_base = f"http://127.0.0.1:{bare_port}"
            bare = stack.enter_context(
                _child("--serve", "bare", "--port", str(bare_port), "--bodies", str(bodies_file))
            )
            await _wait_healthy(session, bare_base, bare)
            for name in SCENARIOS:
                make = _scenario(session, bare_base, name, buyers, product_ids[0])
                await _load(settings["concurrency"], min(duration, 0.5) / 2, make)
                outcome = await _load(settings["concurrency"], duration, make)
                _record(results, f"bare_{name}", outcome)
    for name in SCENARIOS:
        bare_rps = results[f"bare_{name}_rps"]
        results[f"{name}_ratio"] = round(results[f"{name}_rps"] / bare_rps, 4) if bare_rps else 0.0
    return results


@contextlib.contextmanager
def _tempdir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as path:
        yield path


def _record(results: dict[str, Any], name: str, outcome: Result) -> None:
    results[f"{name}_rps"] = round(outcome.rps, 1)
    results[f"{name}_p50_ms"] = round(outcome.percentile(0.50), 3)
    results[f"{name}_p99_ms"] = round(outcome.percentile(0.99), 3)
    results[f"{name}_requests"] = outcome.requests
    results[f"{name}_errors"] = outcome.errors
    # A mean that differs wildly from the median hints at stalls (GC, fsync).
    results[f"{name}_mean_ms"] = (
        round(statistics.fmean(outcome.latencies) * 1000, 3) if outcome.latencies else 0.0
    )


def _table(results: dict[str, Any]) -> str:
    lines = [
        f"loop={results['loop']} concurrency={results['concurrency']} "
        f"duration={results['duration_s']}s per run",
        f"{'scenario':<12}{'server':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}",
    ]
    for name in SCENARIOS:
        for who, prefix in (("platform", ""), ("bare", "bare_")):
            key = f"{prefix}{name}"
            lines.append(
                f"{name:<12}{who:<10}{results[key + '_rps']:>10.1f}"
                f"{results[key + '_p50_ms']:>10.2f}{results[key + '_p99_ms']:>10.2f}"
                f"{results[key + '_errors']:>8}"
            )
        lines.append(f"{name:<12}{'ratio':<10}{results[name + '_ratio']:>10.3f}  (platform/bare)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--serve``, one of its servers)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--concurrency", type=int, help="client connections")
    parser.add_argument("--duration", type=float, help="seconds per measured run")
    parser.add_argument("--serve", choices=("platform", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "platform":
        _serve_platform(args.port, args.dsn)
        return 0
    if args.serve == "bare":
        _serve_bare(args.port, args.bodies)
        return 0
    from bitnexus.log import configure_logging

    # Logs to stderr, and only problems: stdout is the table or the JSON.
    configure_logging("warning")
    loop = _new_loop()
    try:
        results = loop.run_until_complete(_bench(args))
    finally:
        loop.close()
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
