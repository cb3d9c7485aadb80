"""A low rating's follow-up ticket can be answered on the customer's own channel: on a chat
channel it keeps the conversation of the ticket it follows (the sender addresses the page's
user, the OA's user, the shop's buyer by it), on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from desk.surveys.answer import answer
from desk.surveys.tokens import new_token, token_hash
from router import actions
from router.customer_side import last_customer_message
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Contact, Message, Staff, Survey, Ticket

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
THREAD = "104857361928374:7283946152038475"  # the Page and the user (PSID)


async def _resolved(sessions: SessionFactory, channel: str, thread: str) -> tuple[int, str]:
    """A resolved ticket of ``channel`` on ``thread`` with its survey sent; the survey token."""
    token = new_token()
    async with sessions() as s, s.begin():
        lead = await add_staff(s, f"Lê Lan {channel}", ["cskh"], role="lead")
        contact = Contact(name="Trần Thị Hoa", email="hoa@minhphat.vn")
        s.add(contact)
        await s.flush()
        ticket = Ticket(channel=channel, thread_key=thread, status="resolved", queue="cskh",
                        category="delivery", priority="normal", contact_id=contact.id,
                        assignee_id=lead.id, created_at=NOW - timedelta(hours=3),
                        resolved_at=NOW - timedelta(hours=1))
        s.add(ticket)
        await s.flush()
        s.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel=channel,
                      external_id=f"m-{uuid.uuid4().hex}", text="Hàng giao chậm",
                      sent_at=NOW - timedelta(hours=3), received_at=NOW - timedelta(hours=3)))
        s.add(Survey(ticket_id=ticket.id, channel=channel, officer_id=lead.id, status="sent",
                     token_hash=token_hash(token), sent_at=NOW - timedelta(minutes=50),
                     expires_at=NOW + timedelta(days=7)))
    return ticket.id, token


async def test_a_chat_follow_up_is_answered_in_the_same_conversation(
        sessions: SessionFactory) -> None:
    original, token = await _resolved(sessions, "facebook", THREAD)
    async with sessions() as s, s.begin():
        found = await answer(s, token, 2, "Giao chậm, không ai gọi lại", NOW)
        follow_id = found.survey.follow_up_ticket_id
    assert follow_id is not None and follow_id != original
    async with sessions() as s, s.begin():
        follow = await s.get_one(Ticket, follow_id)
        lead = await s.get_one(Staff, follow.assignee_id)
        event = await actions.reply(s, lead, follow, "Dạ em xin lỗi anh/chị, em gọi lại ngay ạ.",
                                    NOW + timedelta(minutes=5))
    assert follow.thread_key == THREAD and event.thread_key == THREAD  # whom Messenger answers
    assert event.channel == "facebook"
    # Messenger's 24 hours count from what the customer last wrote in the conversation (on
    # the ticket it follows), not from the rating, which never came over Messenger
    async with sessions() as s:
        last = await last_customer_message(s, follow_id)
    assert last is not None and last.ticket_id == original and last.text == "Hàng giao chậm"


async def test_a_mail_follow_up_keeps_a_conversation_of_its_own(
        sessions: SessionFactory) -> None:
    _original, token = await _resolved(sessions, "email", "mail-thread-1")
    async with sessions() as s, s.begin():
        found = await answer(s, token, 1, None, NOW)
        follow = await s.get_one(Ticket, found.survey.follow_up_ticket_id)
    assert follow.thread_key.startswith("survey:")  # the contact's address carries the reply
