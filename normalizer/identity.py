"""Who wrote: find or create the contact and the business customer behind a sender."""

from __future__ import annotations

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import Sender
from storage.models import Contact, ContactIdentity, Customer


def normalize_email(email: str | None) -> str | None:
    """Trimmed, lower-cased address, or ``None``."""
    if not email:
        return None
    value = email.strip().lower()
    return value or None


def normalize_phone(phone: str | None, region: str = "VN") -> str | None:
    """The E.164 form of ``phone`` read in ``region``, or ``None`` when it is not a valid number."""
    if not phone:
        return None
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


async def _find_contact(session: AsyncSession, email: str | None, phone: str | None,
                        platform: tuple[str, str] | None) -> Contact | None:
    if email:
        found = await session.scalar(select(Contact).where(Contact.email == email))
        if found:
            return found
    if phone:
        found = await session.scalar(select(Contact).where(Contact.phone == phone))
        if found:
            return found
    if platform:
        return await session.scalar(
            select(Contact).join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
            .where(ContactIdentity.kind == platform[0], ContactIdentity.value == platform[1])
        )
    return None


async def _find_or_create_customer(session: AsyncSession, company: str) -> Customer:
    existing = await session.scalar(
        select(Customer).where(func.lower(Customer.name) == company.lower()).limit(1)
    )
    if existing:
        return existing
    customer = Customer(name=company)
    session.add(customer)
    await session.flush()
    return customer


async def resolve_contact(session: AsyncSession, sender: Sender, channel: str,
                          region: str = "VN") -> Contact:
    """The contact for ``sender``, created if unknown; never merges two existing contacts.

    Found by e-mail first, then E.164 phone, then platform id. Details the contact lacks are
    filled in when no other contact claims them. A contact created concurrently by another
    worker is found rather than duplicated.
    """
    email = normalize_email(sender.email)
    phone = normalize_phone(sender.phone, region)
    platform = (channel, sender.platform_user_id) if sender.platform_user_id else None
    contact = await _find_contact(session, email, phone, platform)
    if contact is None:
        try:
            async with session.begin_nested():
                contact = Contact(name=sender.name, email=email, phone=phone)
                session.add(contact)
                await session.flush()
                if platform:
                    session.add(ContactIdentity(contact_id=contact.id, kind=platform[0],
                                                value=platform[1]))
                    await session.flush()
        except IntegrityError:
            contact = await _find_contact(session, email, phone, platform)
            if contact is None:
                raise
    else:
        if contact.name is None and sender.name:
            contact.name = sender.name
        if contact.phone is None and phone and not await session.scalar(
            select(Contact.id).where(Contact.phone == phone)
        ):
            contact.phone = phone
        if contact.email is None and email and not await session.scalar(
            select(Contact.id).where(Contact.email == email)
        ):
            contact.email = email
    if contact.customer_id is None and sender.company:
        contact.customer_id = (await _find_or_create_customer(session, sender.company)).id
    return contact
