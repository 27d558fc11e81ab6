"""Prometheus metrics for one node: processes, mailboxes, restarts, channels,
connections, HTTP requests and PubSub broadcasts.

Everything about processes is read from the live process table at scrape
time (counters only, no ``summary()`` calls), so the hot paths pay nothing;
HTTP requests are counted by the access-log observer. Each server has its own
registry (no process-wide state).

Example::

    metrics = Metrics(node, pubsub, sampler)
    app[REQUEST_OBSERVER_KEY] = metrics.observe_request
    text = metrics.render()        # GET /metrics
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from bitnexus.actors import Node
from bitnexus.admin.inspect import RateSampler

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAILBOX_BUCKETS = (0, 1, 5, 10, 50, 100, 500, 1000, 10_000)


class _NodeCollector(Collector):
    def __init__(self, node: Node, pubsub: Any, sampler: RateSampler | None) -> None:
        self.node = node
        self.pubsub = pubsub
        self.sampler = sampler

    def collect(self) -> Iterator[Any]:
        procs = [p for p in (pid._proc for pid in self.node.pids()) if p is not None]
        kinds = Tally(getattr(p.actor, "kind", "worker") for p in procs)
        by_kind = GaugeMetricFamily("bitnexus_processes", "Live processes by kind", labels=["kind"])
        for kind, count in sorted(kinds.items()):
            by_kind.add_metric([kind], count)
        yield by_kind
        yield GaugeMetricFamily(
            "bitnexus_channels_joined", "Joined channel processes", value=kinds.get("channel", 0)
        )
        yield GaugeMetricFamily(
            "bitnexus_connections", "Connection processes", value=kinds.get("connection", 0)
        )
        per_bucket = [0] * (len(_MAILBOX_BUCKETS) + 1)  # the last one is +Inf
        total = 0
        handled = 0
        for proc in procs:
            handled += proc.handled
            mailbox = proc.mailbox
            if not mailbox:
                per_bucket[0] += 1  # most processes, most of the time
                continue
            length = len(mailbox)
            total += length
            per_bucket[bisect_left(_MAILBOX_BUCKETS, length)] += 1
        buckets = list(accumulate(per_bucket[:-1]))
        hist = HistogramMetricFamily("bitnexus_mailbox_length", "Mailbox length of live processes")
        points = [(str(b), float(c)) for b, c in zip(_MAILBOX_BUCKETS, buckets, strict=True)]
        hist.add_metric([], [*points, ("+Inf", float(len(procs)))], sum_value=float(total))
        yield hist
        node = self.node
        handled += node.handled_by_dead
        yield CounterMetricFamily("bitnexus_messages_handled", "Messages handled", value=handled)
        if self.sampler is not None:
            yield GaugeMetricFamily(
                "bitnexus_messages_per_second",
                "Messages handled per second over the last sample interval",
                value=self.sampler.total_rate,
            )
        yield CounterMetricFamily("bitnexus_restarts", "Child restarts", value=node.restarts_total)
        yield CounterMetricFamily("bitnexus_processes_spawned", "Spawned", value=node.spawned_total)
        yield CounterMetricFamily("bitnexus_process_crashes", "Crashes", value=node.crashed_total)
        if self.pubsub is not None:
            pubsub = self.pubsub
            yield CounterMetricFamily(
                "bitnexus_pubsub_broadcasts", "PubSub broadcasts", value=pubsub.broadcasts_total
            )
            yield CounterMetricFamily(
                "bitnexus_pubsub_deliveries", "PubSub deliveries", value=pubsub.deliveries_total
            )


class Metrics:
    """The metrics registry of one server.

    Args:
        node: the node whose processes are counted.
        pubsub: its PubSub (broadcast and delivery counters), or None.
        sampler: gives ``bitnexus_messages_per_second``; None leaves it out.
    """

    def __init__(self, node: Node, pubsub: Any = None, sampler: RateSampler | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_NodeCollector(node, pubsub, sampler))
        self.requests = Counter(
            "bitnexus_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bitnexus_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request (the access-log middleware calls this)."""
        # labels() takes a lock and builds a key per call; the children are
        # few (routes x statuses), so keep them.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The exposition text for ``GET /metrics``."""
        return generate_latest(self.registry)
