"""The API form of tickets and messages (also used by ``cskh queue show --json``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.delivery import delivery_json
from router.callbacks import HOTLINE, callback_number, needs_callback
from storage.models import Contact, Customer, Message, Staff, Ticket, ticket_number


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def message_json(message: Message) -> dict[str, Any]:
    """The API form of a message."""
    return {
        "id": message.id,
        "direction": message.direction,
        "channel": message.channel,
        "external_id": message.external_id,
        "sender": {"name": message.sender_name, "email": message.sender_email,
                   "phone": message.sender_phone},
        "subject": message.subject,
        "text": message.text,
        "attachments": message.attachments.get("files", []),
        "sent_at": _iso(message.sent_at),
        "received_at": _iso(message.received_at),
        "delivery": delivery_json(message),
        "callback": (message.raw or {}).get("callback") if message.direction == "outbound"
        else None,
    }


def ticket_json(ticket: Ticket, assignee: Staff | None, customer: Customer | None,
                contact: Contact | None, messages: list[Message]) -> dict[str, Any]:
    """The API form of a ticket, with its messages oldest first."""
    return {
        "id": ticket.id,
        "number": ticket.number,
        "status": ticket.status,
        "kind": ticket.kind,
        "channel": ticket.channel,
        "category": ticket.category,
        "category_confidence": ticket.category_confidence,
        "needs_review": ticket.needs_review,
        "priority": ticket.priority,
        "priority_confidence": ticket.priority_confidence,
        "sentiment": ticket.sentiment,
        "sentiment_confidence": ticket.sentiment_confidence,
        "entities": ticket.entities,
        "queue": ticket.queue,
        "assignee": None if assignee is None else {"id": assignee.id, "name": assignee.name},
        "customer": None if customer is None else {
            "id": customer.id, "name": customer.name, "tax_code": customer.tax_code,
            "tier": customer.tier},
        "contact": None if contact is None else {
            "id": contact.id, "name": contact.name, "email": contact.email,
            "phone": contact.phone},
        "subject": ticket.subject,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "first_response_due": _iso(ticket.first_response_due),
        "resolution_due": _iso(ticket.resolution_due),
        "messages": [message_json(m) for m in messages],
        "callback": _callback(ticket, contact),
        "merged_into": None if ticket.merged_into_id is None
        else ticket_number(ticket.merged_into_id),
    }


def _callback(ticket: Ticket, contact: Contact | None) -> dict[str, Any] | None:
    """On a hotline ticket: the number to call back (and its ``tel:`` link) and whether a
    missed call still waits for a callback that reaches the customer."""
    if ticket.channel != HOTLINE:
        return None
    number = callback_number(ticket, contact)
    return {"number": number, "tel": None if number is None else f"tel:{number}",
            "needed": needs_callback(ticket)}


async def tickets_json(session: AsyncSession, tickets: list[Ticket]) -> list[dict[str, Any]]:
    """The API form of ``tickets``, loading their people and messages in a few queries."""
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    messages: dict[int, list[Message]] = {i: [] for i in ids}
    for m in await session.scalars(
        select(Message).where(Message.ticket_id.in_(ids)).order_by(Message.id)
    ):
        messages[m.ticket_id].append(m)

    async def by_id(model: Any, wanted: set[int | None]) -> dict[int, Any]:
        keys = [k for k in wanted if k is not None]
        if not keys:
            return {}
        return {row.id: row for row in await session.scalars(select(model).where(
            model.id.in_(keys)))}

    staff = await by_id(Staff, {t.assignee_id for t in tickets})
    customers = await by_id(Customer, {t.customer_id for t in tickets})
    contacts = await by_id(Contact, {t.contact_id for t in tickets})
    return [
        ticket_json(t, staff.get(t.assignee_id or 0), customers.get(t.customer_id or 0),
                    contacts.get(t.contact_id or 0), messages[t.id])
        for t in tickets
    ]
