"""Accounts for the campaign tests (tests/desk/test_campaign*.py, tests/e2e).

Thép Việt (key tier, segment "xây dựng") has two contacts, Lan with two tickets and Minh with
one: Lan is asked. Bình Minh (standard) has Hà, marked as its survey contact with no ticket,
and Tú with three: Hà is asked. Sông Đà is no longer active, Gạch Đỏ has no contact: neither
is asked. Every contact has an e-mail address; ``zalo`` gives Lan a Zalo thread instead.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.db import SessionFactory
from storage.models import Contact, Customer, Staff, Ticket

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def seed_accounts(sessions: SessionFactory, *, zalo: bool = False) -> dict[str, int]:
    """The accounts above; returns contact (and account) ids by first name."""
    ids: dict[str, int] = {}
    async with sessions() as s, s.begin():
        def account(name: str, tier: str, **kw: Any) -> Customer:
            c = Customer(name=name, name_key=name.lower(), tier=tier, **kw)
            s.add(c)
            return c

        an = Staff(name="Nguyễn Văn An", token_hash=uuid.uuid4().hex * 2)
        hoa = Staff(name="Trần Thị Hoa", token_hash=uuid.uuid4().hex * 2)
        s.add_all([an, hoa])
        await s.flush()
        thep = account("Công ty Thép Việt", "key", segment="xây dựng", owner_id=an.id)
        binh = account("Nhựa Bình Minh", "standard", segment="nhựa", owner_id=hoa.id)
        song = account("Sông Đà", "standard", active=False)
        gach = account("Gạch Đỏ", "small")
        await s.flush()
        people = {"Lan": (thep, 2), "Minh": (thep, 1), "Hà": (binh, 0), "Tú": (binh, 3),
                  "Quân": (song, 4)}
        for first, (customer, tickets) in people.items():
            on_zalo = zalo and first == "Lan"
            contact = Contact(name=first, email=None if on_zalo else
                              f"{first.lower()}.{uuid.uuid4().hex[:6]}@kh{customer.id}.vn",
                              customer_id=customer.id, survey_contact=first == "Hà")
            s.add(contact)
            await s.flush()
            ids[first] = contact.id
            for n in range(tickets):
                s.add(Ticket(channel="zalo" if on_zalo else "email",
                             thread_key=f"zalo:oa:lan-{n}" if on_zalo else uuid.uuid4().hex,
                             status="resolved", customer_id=customer.id, contact_id=contact.id,
                             created_at=NOW - timedelta(days=30 - n)))
        ids.update({"thep": thep.id, "binh": binh.id, "song": song.id, "gach": gach.id,
                    "an": an.id, "hoa": hoa.id})
    return ids


