"""Prometheus metrics of the fulfillment jobs (served on /metrics and the worker's endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from core.broker import JOBS as JOBS  # the jobs counter is shared by every room's jobs

DISPATCH_ATTEMPTS = Counter(
    "hotline_dispatch_attempts_total", "Partner dispatch attempts", ["partner", "outcome"]
)
DISPATCH_RETRIES = Counter(
    "hotline_dispatch_retries_total", "Dispatch retries scheduled", ["partner"]
)
DISPATCH_FAILURES = Counter(
    "hotline_dispatch_failures_total", "Shipments failed permanently", ["partner"]
)
DEAD_LETTERS = Counter("hotline_dead_letters_total", "Shipments dead-lettered", ["partner"])
DISPATCH_LATENCY = Histogram(
    "hotline_dispatch_latency_seconds",
    "From shipment creation (order paid) to partner acceptance",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
