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
    BUS_PRODUCER_RENEWED = "bus.producer_renewed"
    BUS_TOPICS_CREATED = "bus.topics_created"
    BUS_LOG_CONVERTING = "bus.log_converting"
    BUS_LOG_CONVERTED = "bus.log_converted"
    BUS_TRIMMED = "bus.trimmed"
    BUS_TRIM_FAILED = "bus.trim_failed"

    SIGN_IN = "desk.sign_in"
    SIGN_IN_FAILED = "desk.sign_in_failed"
    SIGN_IN_LOCKED = "desk.sign_in_locked"
    SESSION_KEY_CREATED = "desk.session_key_created"
    SESSION_KEY_EPHEMERAL = "desk.session_key_ephemeral"

    WEBHOOK_ACCEPTED = "webhook.accepted"
    WEBHOOK_IGNORED = "webhook.ignored_event"
    WEBHOOK_REJECTED = "webhook.rejected"
    WEBHOOK_UNKNOWN = "webhook.unknown_event_type"
    WEBHOOK_CHALLENGE = "webhook.challenge"

    PULLER_STARTED = "puller.started"
    PULLER_STOPPED = "puller.stopped"
    PULLER_APPENDED = "puller.appended"
    PULLER_PARKED = "puller.parked_too_big"
    PULLER_SKIPPED_LINES = "puller.skipped_lines"
    PULLER_ROTATED = "puller.file_rotated"
    PULLER_FAILED = "puller.failed"
    PULLER_LEASE_BUSY = "puller.lease_held_elsewhere"
    PULLER_LEASE_ACQUIRED = "puller.lease_acquired"
    PULLER_LEASE_LOST = "puller.lease_lost"
    PULLER_BACKOFF = "puller.backing_off"
    PULLER_RECOVERED = "puller.recovered"
    PULLER_TLS_FAILED = "puller.tls_verify_failed"
    PULLER_SETTLED = "puller.moved_or_flagged"
    PULLER_IDLE = "puller.idle_new_mail"
    PULLER_PARSER_CRASHED = "puller.parser_crashed"

    OUTBOUND_SENT = "outbound.sent"
    OUTBOUND_NO_SENDER = "outbound.no_sender"
    OUTBOUND_FAILED = "outbound.failed"
    OUTBOUND_RETRIED = "outbound.retried"
    REPLY_REPLAYED = "reply.replayed"  # a reply posted again under its idempotency key
    TOKEN_REFRESHED = "token.refreshed"  # noqa: S105 - an event name
    CALL_PLACED = "hotline.call_placed"
    CALL_FAILED = "hotline.call_failed"
    OUTBOUND_EMIT_DEFERRED = "outbound.emit_deferred"
    OUTBOUND_RE_EMITTED = "outbound.re_emitted"

    CONSUMER_STARTED = "consumer.started"
    CONSUMER_STOPPED = "consumer.stopped"
    CONSUMER_BATCH = "consumer.batch"
    CONSUMER_RETRY = "consumer.transient_error"
    CONSUMER_DEAD_LETTER = "consumer.dead_letter"

    TICKET_CREATED = "ticket.created"
    TICKET_MESSAGE_ADDED = "ticket.message_added"
    TICKET_DUPLICATE = "ticket.duplicate_event"
    TICKET_MERGED = "ticket.merged"
    ACCOUNTS_ALLOCATED = "customers.allocated"
    MESSAGE_DISCARDED = "message.discarded_machine_mail"
    THREAD_CLAIM_REFUSED = "ticket.thread_claim_refused"
    SUBMISSION_ID_REUSED = "webform.submission_id_reused"
    TICKET_ASSIGNED = "ticket.assigned"
    TICKET_QUEUED = "ticket.queued_unassigned"
    TICKET_RELEASED = "ticket.released_absent_officer"
    SLA_WARNING = "sla.warning"
    SLA_BREACHED = "sla.breached"

    SURVEY_DECIDED = "survey.decided"
    SURVEY_SENT = "survey.sent"
    SURVEY_ANSWERED = "survey.answered"
    CAMPAIGN_INVITED = "campaign.invited"
    CAMPAIGN_SENT = "campaign.sent"
    CAMPAIGN_REMINDED = "campaign.reminded"
    CAMPAIGN_ASK_FAILED = "campaign.ask_failed"
    CAMPAIGN_ANSWERED = "campaign.answered"
    REPORT_MAILED = "report.mailed"
    CARE_TASK_CREATED = "care.task_created"
    MAINTENANCE_TASK_CREATED = "maintenance.task_created"

    STREAM_CLIENT_LEFT = "stream.client_left"

    DLQ_REPLAYED = "dlq.replayed"
    MODEL_LOADED = "model.loaded"
    PERIODIC_FAILED = "periodic.failed"
