"""Every Prometheus metric, declared once; ``/metrics`` exposes the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOK_REQUESTS = Counter(
    "cskh_webhook_requests_total", "Webhook requests by channel and HTTP status.",
    ["channel", "status"],
)
WEBHOOK_LATENCY = Histogram(
    "cskh_webhook_latency_seconds", "Time from request to answer, durable append included.",
    ["channel"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BUS_APPENDED = Counter("cskh_bus_appended_total", "Records durably appended.", ["topic"])
CONSUMED = Counter(
    "cskh_consumer_records_total", "Records processed and committed.", ["group", "topic"],
)
DEAD_LETTERS = Counter("cskh_dead_letters_total", "Records sent to cskh.dlq.", ["group"])
CONSUMER_ERRORS = Counter(
    "cskh_consumer_transient_errors_total", "Batches retried after a transient error.", ["group"],
)
TICKETS_CREATED = Counter(
    "cskh_tickets_created_total", "Tickets created.", ["channel", "category"],
)
ASSIGNMENTS = Counter("cskh_assignments_total", "Tickets assigned to an officer.", ["queue"])
UNASSIGNED = Counter(
    "cskh_tickets_unassigned_total", "Tickets left waiting: nobody eligible.", ["queue"],
)
CONSUMER_LAG_BATCH = Gauge(
    "cskh_consumer_last_batch_size", "Records in the last batch processed.", ["group"],
)
SLA_EVENTS = Counter(
    "cskh_sla_events_total", "SLA clocks that reached their warning point or were breached.",
    ["kind", "clock"],
)
