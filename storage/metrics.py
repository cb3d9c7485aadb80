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

# -- what an on-call operator watches (README, "Metrics"; deploy/prometheus/alerts.yml) --------
CONSUMER_LAG = Gauge(
    "cskh_consumer_lag_records",
    "Records on the partition not yet committed by the group (end offset - committed offset), "
    "reported by the member that holds the partition.", ["group", "topic", "partition"],
)
DLQ_WAITING = Gauge(
    "cskh_dlq_records",
    "Dead letters on cskh.dlq that `cskh dlq replay` has not replayed yet (router role).",
)
SENDER_SENT = Counter(
    "cskh_sender_sent_total", "Replies sent by the senders role, by channel.", ["channel"],
)
SENDER_FAILURES = Counter(
    "cskh_sender_failures_total",
    "Reply sends that failed (the batch is retried, or dead-lettered), by channel and error.",
    ["channel", "error"],
)
PULLER_UP = Gauge(
    "cskh_puller_up", "1 when the puller's last pass succeeded, 0 while it is failing.",
    ["channel", "source"],
)
PULLER_LEASE = Gauge(
    "cskh_puller_lease_held", "1 when this process holds the source's lease and pulls it.",
    ["channel", "source"],
)
PULLER_LAST_SUCCESS = Gauge(
    "cskh_puller_last_success_timestamp_seconds",
    "Unix time of the puller's last successful pass (fetched or found nothing new).",
    ["channel", "source"],
)
PULLER_FAILURES = Counter(
    "cskh_puller_failures_total", "Puller passes that failed and were retried.",
    ["channel", "source"],
)
