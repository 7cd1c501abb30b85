"""Prometheus metrics every process exposes at `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("billport_consumed_total", "Messages consumed", ["topic"])
PRODUCED = Counter("billport_produced_total", "Messages produced", ["topic"])
FAILED = Counter("billport_failed_total", "Message deliveries that failed", ["topic", "kind"])
DEAD_LETTERED = Counter("billport_dead_lettered_total", "Messages sent to a DLQ", ["topic"])
OUTBOX_PUBLISHED = Counter("billport_outbox_published_total", "Outbox rows relayed", ["schema"])
OUTBOX_DEAD = Counter(
    "billport_outbox_dead_total", "Outbox rows set aside: too large for Kafka", ["schema"]
)
OUTBOX_RELISTENS = Counter(
    "billport_outbox_relistens_total",
    "Times the outbox relay opened a new NOTIFY connection after PostgreSQL closed its own",
    ["schema"],
)
CONSUMER_STALLED = Gauge(
    "billport_consumer_stalled_seconds",
    "How long this service's consumer group has had records waiting on the topic and committed"
    " nothing",
    ["topic"],
)
CONSUMER_RESTARTS = Counter(
    "billport_consumer_restarts_total",
    "Consumers restarted by the watch after their group stalled (shared.consumer_watch)",
    ["topic"],
)
REJECTED = Counter("billport_rejected_total", "Input refused at the edge", ["route"])
PROCESSING = Histogram(
    "billport_processing_seconds", "Time to process one delivery (message or batch)", ["topic"]
)
CONSUMER_LAG = Gauge(
    "billport_partition_lag",
    "Messages behind the end of the partition after this consumer's last delivery",
    ["topic", "partition"],
)
