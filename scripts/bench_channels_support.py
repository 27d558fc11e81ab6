"""Server processes, /proc readings, py-spy and the table for ``bench_channels.py``.

Example::

    proc = start_server("bitnexus", free_port(), reuse_port=False, cpus={1})
    settle([proc.pid]); print(rss_bytes(proc.pid), cpu_seconds(proc.pid))
    proc.stop()
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "Meter",
    "Server",
    "Spy",
    "cpu_seconds",
    "free_port",
    "profile_top",
    "rss_bytes",
    "settle",
    "start_profiler",
    "start_server",
    "table",
    "warm_up",
]

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "scripts" / "bench_channels_floor.py"
START_TIMEOUT = 120.0  # an embedded PostgreSQL's first initdb is slow
_TICK = os.sysconf("SC_CLK_TCK")
NOISY_PCT = 25.0  # other CPU in a phase, % of one core, above which a run is flagged

# `bitnexus serve` with aiohttp's run_app told to set SO_REUSEPORT, for as long as the
# serve command has no --reuse-port flag of its own: the rest is the real serve path.
_REUSE_PORT_SHIM = """
import sys
from aiohttp import web
from bitnexus.cli import main
_run_app = web.run_app
def run_app(*args, **kwargs):
    kwargs["reuse_port"] = True
    return _run_app(*args, **kwargs)
web.run_app = run_app
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(*pids: int) -> float:
    """utime + stime of ``pids`` (threads included, children not), in seconds."""
    return sum(sum(cpu_split(pid)) for pid in pids)


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, kernel) CPU seconds of ``pid``: utime and stime from ``/proc``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK  # fields 14, 15


def rss_bytes(pid: int) -> int:
    """``VmRSS`` of ``pid`` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICK


class Meter:
    """CPU of the servers, of the client and of everything else over one phase.

    Example::

        meter = Meter(server_pids, client_pid)
        ...  # the phase
        meter.stop()
        print(meter.server, meter.client_pct, meter.foreign_pct)
    """

    def __init__(self, server_pids: list[int], client_pid: int) -> None:
        self._pids = (server_pids, client_pid)
        self._start = self._read()
        self.wall = self.client = self.machine = self.server_kernel = 0.0
        self.servers: list[float] = []

    def _read(self) -> tuple[float, list[tuple[float, float]], float, float]:
        servers, client = self._pids
        per_server = [cpu_split(pid) for pid in servers]
        return time.monotonic(), per_server, cpu_seconds(client), _machine_busy()

    def stop(self) -> None:
        (t0, s0, c0, m0), (t1, s1, c1, m1) = self._start, self._read()
        self.wall, self.client, self.machine = t1 - t0, c1 - c0, m1 - m0
        self.servers = [sum(b) - sum(a) for a, b in zip(s0, s1, strict=True)]
        self.server_kernel = sum(b[1] - a[1] for a, b in zip(s0, s1, strict=True))

    @property
    def server(self) -> float:
        """CPU seconds of every server process together."""
        return sum(self.servers)

    @property
    def split_pct(self) -> list[float]:
        """Each server process's share of the servers' CPU, in percent."""
        total = self.server or 1.0
        return [round(100 * v / total, 1) for v in self.servers]

    @property
    def server_pct(self) -> float:
        """The servers' CPU as a percentage of one core."""
        return 100 * self.server / self.wall if self.wall else 0.0

    @property
    def client_pct(self) -> float:
        """The client's CPU as a percentage of one core (100 = saturated)."""
        return 100 * self.client / self.wall if self.wall else 0.0

    @property
    def foreign_pct(self) -> float:
        """CPU used by processes other than ours, in percent of one core: noise."""
        other = self.machine - self.server - self.client
        return max(0.0, 100 * other / self.wall) if self.wall else 0.0


def settle(
    pids: list[int], *, busy: float = 0.03, window: float = 0.25, limit: float = 15.0
) -> None:
    """Wait until ``pids`` use under ``busy`` of a core for ``window`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(*pids)
        time.sleep(window)
        if cpu_seconds(*pids) - before < busy * window:
            return


@dataclass
class Server:
    """A server subprocess; :meth:`stop` sends SIGTERM, then SIGKILL after 20 s."""

    proc: subprocess.Popen[bytes]
    err: IO[bytes]
    pid: int = field(init=False)

    def __post_init__(self) -> None:
        self.pid = self.proc.pid

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            reap(self.proc, timeout=20)
        self.err.close()


def reap(proc: subprocess.Popen[Any], *, timeout: float) -> None:
    """Wait up to ``timeout`` s for ``proc`` to exit, then kill it and wait."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@functools.cache
def _serve_has_reuse_port() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "bitnexus", "serve", "--help"],
        capture_output=True, text=True, env=_server_env(), timeout=60, check=False,
    )  # fmt: skip
    return "--reuse-port" in done.stdout


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["BITNEXUS_LOG__LEVEL"] = "warning"
    # No client is idle for long, but a slow run must not lose members to the idle close.
    env["BITNEXUS_SOCKET__IDLE_TIMEOUT"] = "600"
    # One node, local PubSub: a Redis adapter would put Redis on every broadcast's path.
    for name in ("REDIS_URL", "BITNEXUS_REDIS__URL"):
        env.pop(name, None)
    return env


def start_server(kind: str, port: int, *, reuse_port: bool, cpus: set[int] | None) -> Server:
    """Start ``bitnexus serve --env test`` or the floor on ``port``; wait for /healthz."""
    if kind == "floor":
        cmd = [sys.executable, str(FLOOR), "--port", str(port)]
        cmd += ["--reuse-port"] if reuse_port else []
    else:
        serve = ["serve", "--env", "test", "--host", "127.0.0.1", "--port", str(port)]
        if not reuse_port:
            cmd = [sys.executable, "-m", "bitnexus", *serve]
        elif _serve_has_reuse_port():
            cmd = [sys.executable, "-m", "bitnexus", *serve, "--reuse-port"]
        else:
            cmd = [sys.executable, "-c", _REUSE_PORT_SHIM, *serve]

    def prepare() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if cpus:
            os.sched_setaffinity(0, cpus)

    # stderr to a file, not a pipe nobody reads: a full pipe would stall the server.
    err = tempfile.TemporaryFile()  # noqa: SIM115 - Server.stop closes it
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_server_env(), stdout=subprocess.DEVNULL, stderr=err,
        preexec_fn=prepare,
    )  # fmt: skip
    server = Server(proc, err)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            message = f"{kind} server exited with {proc.returncode}:\n{server.stderr()}"
            server.stop()
            raise RuntimeError(message)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{kind} server did not answer /healthz within {START_TIMEOUT}s")


def warm_up(url: str, clients: int = 5) -> None:
    """Join, ping, shout and leave once, so first-use costs stay out of the figures."""
    import aiohttp
    import orjson

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            for ref, event, payload in (
                ("1", "phx_join", {}), ("2", "ping", {"n": 1}), ("3", "shout", {"t": 0, "k": -1}),
            ):  # fmt: skip
                await ws.send_str(orjson.dumps(["1", ref, "room:warmup", event, payload]).decode())
            while True:
                frame = orjson.loads((await ws.receive(timeout=10)).data)
                if frame[1] == "2":
                    return

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(asyncio.gather(*(one(session) for _ in range(clients))), 30)

    asyncio.run(run())


@dataclass
class Spy:
    """A running ``py-spy record``."""

    proc: subprocess.Popen[bytes]
    output: Path


def start_profiler(pid: int) -> Spy:
    """``py-spy record`` on ``pid`` until :func:`profile_top` (raw stacks, by function)."""
    # The virtualenv's bin first: `pip install py-spy` puts it there, maybe not on PATH.
    spy = shutil.which(
        "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if spy is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    output = Path(tempfile.mkdtemp(prefix="bench-channels-")) / "profile.txt"
    cmd = [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--function",
           "--nonblocking", "--output", str(output)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)  # attached before the phase starts
    return Spy(proc, output)


def profile_top(spy: Spy, count: int = 10) -> list[dict[str, Any]]:
    """Stop ``spy``; the ``count`` functions with the most own (leaf) samples."""
    spy.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    _, err = spy.proc.communicate(timeout=60)
    if spy.proc.returncode != 0 or not spy.output.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")
    own: collections.Counter[str] = collections.Counter()
    for line in spy.output.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack:
            own[stack.rsplit(";", 1)[-1]] += int(samples)
    total = sum(own.values()) or 1
    return [
        {"function": name, "samples": n, "own_pct": round(100 * n / total, 1)}
        for name, n in own.most_common(count)
    ]


_ROWS = [
    ("join_s", "all N joined (s)", "{:.2f}", "<="),
    ("bytes_per_channel", "per joined channel (kB)", "{:.1f}", "<="),
    ("fanout_p50_ms", "fan-out p50 (ms)", "{:.1f}", ""),
    ("fanout_p99_ms", "fan-out p99 (ms)", "{:.1f}", "<="),
    ("fanout_cpu_us_per_msg", "CPU per delivered msg (µs)", "{:.2f}", "<="),
    ("fanout_kernel_us_per_msg", "  of which kernel (µs)", "{:.2f}", ""),
    ("replies_per_s", "ping replies/s", "{:,.0f}", ">="),
    ("ping_p50_ms", "ping p50 (ms)", "{:.1f}", ""),
    ("ping_p99_ms", "ping p99 (ms)", "{:.1f}", ""),
]


def _cell(value: Any, fmt: str, key: str) -> str:
    if not isinstance(value, int | float):
        return "-"
    return fmt.format(value / 1000 if key == "bytes_per_channel" else value)


def _phases(results: dict[str, Any], run: str, what: str) -> str:
    cells = []
    for phase in ("join", "fanout", "ping"):
        value = results.get(f"{run}_{what}_cpu_{phase}_pct")
        cells.append("-" if value is None else f"{value:.0f}")
    return " / ".join(cells)


def table(results: dict[str, Any], metrics: list[str]) -> str:
    """The comparison table: measured runs, Phoenix, the targets, and verdicts."""
    runs = [r for r in ("bitnexus", "floor", "bitnexus_x2", "bitnexus_x3", "bitnexus_x4")
            if f"{r}_join_s" in results]  # fmt: skip
    ref = results["reference"]
    vs_floor = "floor" in runs
    head = f"{'':<28}" + "".join(f"{r:>13}" for r in runs) + f"{'phoenix':>13}{'target':>13}"
    head += f"{'':6}{'÷ floor':>8}" if vs_floor else ""
    lines = [head]
    for key, label, fmt, op in _ROWS:
        if key not in metrics:
            continue
        cells = "".join(f"{_cell(results.get(f'{r}_{key}'), fmt, key):>13}" for r in runs)
        target = ref["target"].get(key)
        goal = f"{op} {_cell(target, fmt, key)}" if target is not None else ""
        verdict = ""
        ours = results.get(f"bitnexus_{key}")
        if target is not None and isinstance(ours, int | float):
            verdict = "  ok" if (ours <= target if op == "<=" else ours >= target) else "  MISS"
        phoenix = _cell(ref["phoenix"].get(key), fmt, key)
        line = f"{label:<28}{cells}{phoenix:>13}{goal:>13}{verdict:<6}"
        floor = results.get(f"floor_{key}")
        if vs_floor and isinstance(ours, int | float) and isinstance(floor, int | float) and floor:
            line += f"{ours / floor:>8.2f}"
        lines.append(line.rstrip())
    cells = "".join(f"{_cell(results.get(f'{r}_ping_cpu_us_per_reply'), '{:.1f}', ''):>13}"
                    for r in runs)  # fmt: skip
    lines.append(f"{'CPU per ping reply (µs)':<28}{cells}")
    for what, title in (
        ("server", "server CPU, % of one core"),
        ("client", "client CPU, % of one core (100: the client is the bottleneck)"),
        ("other", "other CPU, % of one core (other processes, kernel; high: a noisy run)"),
    ):
        lines.append(f"{title}, join / fan-out / ping:")
        lines += [f"  {run:<14}{_phases(results, run, what)}" for run in runs]
    for run in runs:
        noise = max(
            results.get(f"{run}_other_cpu_{p}_pct", 0.0) for p in ("join", "fanout", "ping")
        )
        if noise > NOISY_PCT:
            lines.append(
                f"{run}: WARNING other work took up to {noise:.0f}% of a core during a phase; "
                "the machine was not quiet, rerun"
            )
        split = results.get(f"{run}_ping_cpu_split_pct")
        if split:
            shares = " / ".join(f"{v:.0f}%" for v in split)
            lines.append(f"{run}: ping phase server CPU per process {shares}")
        if results.get(f"{run}_join_failed") or results.get(f"{run}_fanout_delivered", 0) != (
            results.get(f"{run}_fanout_expected", 0)
        ):
            lines.append(
                f"{run}: WARNING {results.get(f'{run}_join_failed')} joins failed, "
                f"{results.get(f'{run}_fanout_delivered')} of "
                f"{results.get(f'{run}_fanout_expected')} shouts delivered"
            )
    s = results["settings"]
    lines.append(
        f"N={s['clients']} ({s['inflight']} handshakes in flight); fan-out {s['shouts']} shouts "
        f"every {s['interval_ms']} ms; ping {s['ping_clients']} clients x {s['ping_seconds']} s; "
        f"join without presence; client: {s['transport']}; "
        f"pinning: {results.get('bitnexus_pinning')}; kB = 1000 bytes"
    )
    if results["quick"]:
        lines.append("--quick: small N and short phases; the verdicts mean nothing here")
    for run in runs:
        for phase in ("join", "fanout", "ping"):
            top = results.get(f"{run}_profile_{phase}")
            if top:
                lines.append(f"\n{run} {phase}: top functions by own time (py-spy, 250 Hz)")
                lines += [f"  {t['own_pct']:>5.1f}%  {t['function']}" for t in top]
                lines.append("  (run_app: time in uvloop's C loop, its syscalls included)")
    if any(f"{run}_profile_ping" in results for run in runs):
        lines.append("--profile: py-spy shares the machine, so the figures above are perturbed")
    return "\n".join(lines)
