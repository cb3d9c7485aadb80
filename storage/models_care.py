"""The yearly care plan: its budget lines and its entries, each with the outcome recorded.

A plan is one per year, ``state`` ``draft`` → ``submitted`` → ``approved``. An entry is one
planned act of care for one account (unique by plan, account, occasion and date, so building
the plan again changes nothing twice); ``ticket_id`` is its task ticket once it reached the
officer's queue; ``spent`` (VND) is what it really cost, counted against the budget.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow

PLAN_STATES = ("draft", "submitted", "approved")
ACTIONS = ("call", "email", "visit", "gift")
ENTRY_STATUSES = ("planned", "done", "skipped")


class CarePlan(Base):
    """The care plan of one year; ``budget`` is the year's total (VND), NULL: not set."""

    __tablename__ = "care_plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    year: Mapped[int] = mapped_column(Integer, unique=True)
    state: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    budget: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    generated_at: Mapped[datetime | None] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column()
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))


class CareBudget(Base):
    """A budget line of a plan: ``scope`` ``tier`` or ``segment``, ``key`` its value."""

    __tablename__ = "care_budgets"
    __table_args__ = (UniqueConstraint("plan_id", "scope", "key",
                                       name="uq_care_budgets_plan_scope_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)


class CareEntry(Base):
    """One act of care: account, occasion, date, action, gift and planned value, officer."""

    __tablename__ = "care_entries"
    __table_args__ = (UniqueConstraint("plan_id", "customer_id", "occasion", "on_date",
                                       name="uq_care_entries_plan_customer_occasion_date"),
                      # a plan's entries by date: the /care page reads them 200 at a time
                      Index("ix_care_entries_plan_date", "plan_id", "on_date"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"),
                                         index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    occasion: Mapped[str] = mapped_column(String(64))
    on_date: Mapped[date] = mapped_column(Date, index=True)
    action: Mapped[str] = mapped_column(String(16))
    gift: Mapped[str | None] = mapped_column(String(200))
    planned_value: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="planned", server_default="planned")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"),
                                                  index=True)
    spent: Mapped[int | None] = mapped_column(BigInteger)
    gift_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    customer_words: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime | None] = mapped_column()
    outcome_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))


class WarrantyItem(Base):
    """A product delivered to an account: model, serial (unique, as ``serial_key`` writes it),
    delivery date, months of warranty, months between maintenance visits (NULL: none)."""

    __tablename__ = "warranty_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    model: Mapped[str] = mapped_column(String(100))
    model_key: Mapped[str] = mapped_column(String(100), index=True)
    serial: Mapped[str] = mapped_column(String(100), unique=True)
    delivered_on: Mapped[date] = mapped_column(Date)
    warranty_months: Mapped[int] = mapped_column(Integer)
    maintenance_months: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MaintenanceVisit(Base):
    """A maintenance visit due for an item (one per item and date); ``ticket_id`` is the
    technical queue's task for it, ``done_on`` and ``outcome`` what the technician recorded."""

    __tablename__ = "maintenance_visits"
    __table_args__ = (UniqueConstraint("item_id", "due_on",
                                       name="uq_maintenance_visits_item_due"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("warranty_items.id", ondelete="CASCADE"))
    due_on: Mapped[date] = mapped_column(Date)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    done_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(Text)


KB_CATEGORIES = ("usage", "prices_promotions", "warranty_policy", "documents_invoices")


class KbArticle(Base):
    """A knowledge base article: Markdown ``body`` in one of ``KB_CATEGORIES``."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
