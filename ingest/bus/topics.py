"""The topic names the design fixes."""

from __future__ import annotations

INBOUND = "cskh.inbound"
TICKETS = "cskh.tickets"
ASSIGNMENTS = "cskh.assignments"
OUTBOUND = "cskh.outbound"
DLQ = "cskh.dlq"

ALL_TOPICS = (INBOUND, TICKETS, ASSIGNMENTS, OUTBOUND, DLQ)
