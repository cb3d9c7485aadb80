"""Every structured log event name, declared once. Storage is the layer every package may import."""

from __future__ import annotations

from enum import StrEnum


class LogEvent(StrEnum):
    """Event names; log lines carry them as ``event`` and bind channel/ticket_id/message_id."""

    SERVICE_STARTING = "service.starting"
    SERVICE_READY = "service.ready"
    SERVICE_STOPPING = "service.stopping"
    SERVICE_STOPPED = "service.stopped"
    MIGRATIONS_APPLIED = "storage.migrations_applied"

    BUS_STARTED = "bus.started"
    BUS_UNAVAILABLE = "bus.unavailable"
    BUS_TOPICS_CREATED = "bus.topics_created"

    WEBHOOK_ACCEPTED = "webhook.accepted"
    WEBHOOK_IGNORED = "webhook.ignored_event"
    WEBHOOK_REJECTED = "webhook.rejected"

    CONSUMER_STARTED = "consumer.started"
    CONSUMER_STOPPED = "consumer.stopped"
    CONSUMER_BATCH = "consumer.batch"
    CONSUMER_RETRY = "consumer.transient_error"
    CONSUMER_DEAD_LETTER = "consumer.dead_letter"

    TICKET_CREATED = "ticket.created"
    TICKET_MESSAGE_ADDED = "ticket.message_added"
    TICKET_DUPLICATE = "ticket.duplicate_event"
    TICKET_ASSIGNED = "ticket.assigned"
    TICKET_QUEUED = "ticket.queued_unassigned"

    DLQ_REPLAYED = "dlq.replayed"
    MODEL_LOADED = "model.loaded"
