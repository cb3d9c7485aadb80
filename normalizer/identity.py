"""Who wrote: find or create the contacts and business customers behind a batch of senders."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.envelope import InboundEnvelope
from connectors.payloads import e164
from normalizer.trust import may_write_identity, sender_trust
from storage.models import Contact, ContactIdentity, Customer, CustomerDomain


def normalize_email(email: str | None) -> str | None:
    """Trimmed, lower-cased address, or ``None``."""
    if not email:
        return None
    value = email.strip().lower()
    return value or None


def normalize_phone(phone: str | None, region: str = "VN") -> str | None:
    """The E.164 form of ``phone`` read in ``region``, or ``None`` when it is not a valid number
    (the connectors' ``e164``: one reading of phone numbers for every channel)."""
    return e164(phone, region)


def name_key(name: str) -> str:
    """The matching form of a company name: NFC, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def clip(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters (columns have limits; the raw payload keeps all)."""
    return None if value is None else value[:limit]


class IdentityResolver:
    """Resolves the senders of one batch with a handful of queries, not a few per message.

    Contacts are found by e-mail, then E.164 phone, then platform id; unknown senders become
    new contacts, and details a contact lacks are filled in when nobody else claims them.
    Two existing contacts are never merged. Customers are found by their case-folded name.

    What a sender merely claims (a web form; a mail whose ``From`` our server could not
    confirm: ``normalizer.trust``) never changes a contact we already know: no detail filled
    in, no customer given. A failed mail's new contact gets no customer by its domain either.
    """

    def __init__(self, session: AsyncSession, region: str = "VN") -> None:
        self._session = session
        self._region = region
        self._by_email: dict[str, Contact] = {}
        self._by_phone: dict[str, Contact] = {}
        self._by_platform: dict[tuple[str, str], Contact] = {}
        self._customers: dict[str, Customer] = {}
        self._by_domain: dict[str, int] = {}
        self._given_customer: set[int] = set()

    async def load(self, envelopes: Sequence[InboundEnvelope]) -> None:
        """Fetch every contact and customer the batch could refer to."""
        emails = {e for env in envelopes if (e := normalize_email(env.sender.email))}
        phones = {p for env in envelopes if (p := normalize_phone(env.sender.phone,
                                                                 self._region))}
        platforms = {(env.channel, env.sender.platform_user_id) for env in envelopes
                     if env.sender.platform_user_id}
        keys = {name_key(env.sender.company) for env in envelopes if env.sender.company}
        s = self._session
        if emails or phones:
            for contact in await s.scalars(select(Contact).where(
                    or_(Contact.email.in_(emails), Contact.phone.in_(phones)))):
                self._remember(contact)
        if platforms:
            rows = await s.execute(
                select(ContactIdentity.kind, ContactIdentity.value, Contact)
                .join(Contact, Contact.id == ContactIdentity.contact_id)
                .where(tuple_(ContactIdentity.kind, ContactIdentity.value).in_(platforms)))
            for kind, value, contact in rows.all():
                self._by_platform[(kind, value)] = contact
        if keys:
            for customer in await s.scalars(select(Customer).where(Customer.name_key.in_(keys))):
                self._customers[customer.name_key] = customer
        domains = {e.rpartition("@")[2] for e in emails}
        if domains:
            owned = await s.execute(select(CustomerDomain.domain, CustomerDomain.customer_id)
                                    .where(CustomerDomain.domain.in_(domains)))
            self._by_domain = {domain: customer_id for domain, customer_id in owned.all()}

    def _remember(self, contact: Contact) -> None:
        if contact.email:
            self._by_email[contact.email] = contact
        if contact.phone:
            self._by_phone[contact.phone] = contact

    def contact_for(self, envelope: InboundEnvelope) -> Contact:
        """The contact of ``envelope``'s sender (a new, pending one if unknown)."""
        sender = envelope.sender
        email = clip(normalize_email(sender.email), 320)
        phone = normalize_phone(sender.phone, self._region)
        platform = ((envelope.channel, sender.platform_user_id[:256])
                    if sender.platform_user_id else None)
        contact = ((email and self._by_email.get(email)) or (phone and self._by_phone.get(phone))
                   or (platform and self._by_platform.get(platform)) or None)
        trust = sender_trust(envelope)
        if contact is None:
            contact = Contact(name=clip(sender.name, 200), email=email, phone=phone)
            self._session.add(contact)
        elif not may_write_identity(trust):
            return contact
        else:
            if contact.name is None and sender.name:
                contact.name = clip(sender.name, 200)
            if contact.email is None and email and email not in self._by_email:
                contact.email = email
            if contact.phone is None and phone and phone not in self._by_phone:
                contact.phone = phone
        self._remember(contact)
        if platform and platform not in self._by_platform:
            self._by_platform[platform] = contact
            identity = ContactIdentity(kind=platform[0], value=platform[1])
            identity.contact = contact
            self._session.add(identity)
        given = id(contact) in self._given_customer
        if contact.customer_id is None and not given:
            domain_owner = (self._by_domain.get((email or "").rpartition("@")[2])
                            if trust != "failed" else None)
            if domain_owner is not None:  # the company's own domain says who they work for
                contact.customer_id = domain_owner
                self._given_customer.add(id(contact))
            elif sender.company:
                contact.customer = self._customer(sender.company)
                self._given_customer.add(id(contact))
        return contact

    def _customer(self, company: str) -> Customer:
        key = name_key(company)
        customer = self._customers.get(key)
        if customer is None:
            customer = Customer(name=clip(company, 300) or company, name_key=key[:300])
            self._session.add(customer)
            self._customers[key] = customer
        return customer
