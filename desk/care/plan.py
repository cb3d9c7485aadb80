"""Building a year's care plan, its budget, and taking it from draft to approved.

Building is idempotent: an entry is unique by (plan, account, occasion, date), so building the
same year again changes nothing, and building after the directory changed adds what is new and
drops the planned entries that no longer apply (never one with a task or an outcome). Only a
draft is built; a submitted or approved plan is what the board saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.care.occasions import anniversary, occasions
from desk.care.policy import TIERS, CarePolicy
from desk.search import bytewise, folded
from router.staff import find_staff
from storage.models import Customer, Staff, ticket_number
from storage.models_care import CareBudget, CareEntry, CarePlan

OCCASION_LABELS = {"founded": "Kỷ niệm ngày thành lập", "opened": "Kỷ niệm ngày khai trương",
                   "contact": "Liên hệ định kỳ"}
SCOPES = ("tier", "segment")


class PlanError(ValueError):
    """A plan that cannot do what was asked (its state, who asks, a bad value)."""


@dataclass(frozen=True)
class Planned:
    """One entry the plan should hold."""

    customer_id: int
    occasion: str
    on: date
    action: str
    gift: str | None
    value: int
    officer_id: int | None


@dataclass
class BuildReport:
    """What building did: entries added, kept as they were, updated, dropped."""

    year: int
    added: int = 0
    kept: int = 0
    updated: int = 0
    dropped: int = 0
    accounts: int = 0

    def as_json(self) -> dict[str, int]:
        return {"year": self.year, "accounts": self.accounts, "added": self.added,
                "kept": self.kept, "updated": self.updated, "dropped": self.dropped}


def check_year(year: int) -> int:
    """``year`` if the calendars know it (2000–2099)."""
    if not 2000 <= year <= 2099:
        raise PlanError(f"year {year} is outside 2000-2099")
    return year


def planned_entries(year: int, customers: list[Customer], policy: CarePolicy) -> list[Planned]:
    """Every entry of ``year`` for the active ``customers``, by the ``policy``."""
    days = occasions(year)
    out: list[Planned] = []
    for c in customers:
        if not c.active:
            continue

        def add(occasion: str, on: date, policy_key: str, customer: Customer = c) -> None:
            act = policy.act(policy_key, customer.tier)
            if act is not None:
                out.append(Planned(customer.id, occasion, on, act.action, act.gift, act.value,
                                   customer.owner_id))

        for o in days:
            add(o.key, o.on, o.key)
        for occasion, known in (("founded", c.founded_on), ("opened", c.opened_on)):
            if known is not None and (on := anniversary(known, year)) is not None:
                add(occasion, on, occasion)
        months = policy.contact_months.get(c.tier, 0)
        if months > 0:
            for month in range(months, 13, months):
                out.append(Planned(c.id, f"contact_{month:02d}",
                                   date(year, month, policy.contact_day),
                                   policy.contact_actions.get(c.tier, "call"), None, 0,
                                   c.owner_id))
    return out


async def get_plan(session: AsyncSession, year: int) -> CarePlan:
    """The plan of ``year``; ``PlanError`` when it was never built."""
    plan = await session.scalar(select(CarePlan).where(CarePlan.year == check_year(year)))
    if plan is None:
        raise PlanError(f"no care plan for {year} yet: run `cskh care plan --year {year}`")
    return plan


async def build_plan(session: AsyncSession, year: int, policy: CarePolicy,
                     now: datetime) -> BuildReport:
    """Create or bring up to date the draft plan of ``year`` from the directory."""
    plan = await session.scalar(select(CarePlan).where(CarePlan.year == check_year(year)))
    if plan is None:
        plan = CarePlan(year=year, state="draft", created_at=now)
        session.add(plan)
        await session.flush()
    elif plan.state != "draft":
        raise PlanError(f"the {year} plan is {plan.state}: it is no longer rebuilt")
    customers = list(await session.scalars(select(Customer).order_by(Customer.id)))
    wanted = planned_entries(year, customers, policy)
    report = BuildReport(year=year, accounts=len({p.customer_id for p in wanted}))
    existing = {(e.customer_id, e.occasion, e.on_date): e for e in await session.scalars(
        select(CareEntry).where(CareEntry.plan_id == plan.id))}
    for p in wanted:
        entry = existing.pop((p.customer_id, p.occasion, p.on), None)
        if entry is None:
            session.add(CareEntry(plan_id=plan.id, customer_id=p.customer_id, occasion=p.occasion,
                                  on_date=p.on, action=p.action, gift=p.gift,
                                  planned_value=p.value, officer_id=p.officer_id))
            report.added += 1
        elif (entry.action, entry.gift, entry.planned_value, entry.officer_id) != (
                p.action, p.gift, p.value, p.officer_id) and entry.ticket_id is None:
            entry.action, entry.gift, entry.planned_value = p.action, p.gift, p.value
            entry.officer_id = p.officer_id
            report.updated += 1
        else:
            report.kept += 1
    stale = [e.id for e in existing.values()
             if e.ticket_id is None and e.status == "planned" and e.spent is None]
    if stale:
        await session.execute(delete(CareEntry).where(CareEntry.id.in_(stale)))
        report.dropped = len(stale)
    plan.generated_at = now
    await session.flush()
    return report


def amount(text: str) -> int:
    """Whole đồng written as people do (``150.000.000``, ``150,000,000``, ``150000000``)."""
    cleaned = text.replace(".", "").replace(",", "").replace("_", "").strip()
    if not cleaned.isdigit():
        raise PlanError(f"{text!r} is not an amount in đồng")
    return int(cleaned)


async def set_budget(session: AsyncSession, year: int, *, total: str | None = None,
                     lines: Sequence[tuple[str, str, str]] = ()) -> CarePlan:
    """Set the year's total and budget lines (``(scope, key, amount)``, scope ``tier`` or
    ``segment``); only while the plan is a draft. Amounts are whole đồng (``150.000.000``,
    ``150000000``)."""
    plan = await get_plan(session, year)
    if total is None and not lines:
        return plan
    if plan.state != "draft":
        raise PlanError(f"the {year} plan is {plan.state}: its budget is settled")
    if total is not None:
        plan.budget = amount(total)
    for scope, key, value in lines:
        if scope not in SCOPES:
            raise PlanError(f"a budget line is per {' or '.join(SCOPES)}, not {scope!r}")
        if scope == "tier" and key not in TIERS:
            raise PlanError(f"tier must be one of {', '.join(TIERS)}")
        line = await session.scalar(select(CareBudget).where(
            CareBudget.plan_id == plan.id, CareBudget.scope == scope, CareBudget.key == key))
        if line is None:
            session.add(CareBudget(plan_id=plan.id, scope=scope, key=key,
                                   amount=amount(value)))
        else:
            line.amount = amount(value)
    await session.flush()
    return plan


async def move_plan(session: AsyncSession, year: int, to: str, by: str,
                    now: datetime) -> CarePlan:
    """Submit (``to`` ``submitted``: a lead or an admin, from draft) or approve (``approved``:
    an admin, from submitted) the plan of ``year``, as the staff member ``by``."""
    plan = await get_plan(session, year)
    staff = await find_staff(session, by)
    if to == "submitted":
        if plan.state != "draft":
            raise PlanError(f"the {year} plan is {plan.state}, not a draft")
        if staff.role not in ("lead", "admin"):
            raise PlanError(f"{staff.name} is an {staff.role}: a lead or admin submits the plan")
        plan.state, plan.submitted_at, plan.submitted_by = "submitted", now, staff.id
    elif to == "approved":
        if plan.state != "submitted":
            raise PlanError(f"the {year} plan is {plan.state}: only a submitted plan is "
                            "approved")
        if staff.role != "admin":
            raise PlanError(f"{staff.name} is a {staff.role}: only an admin approves the plan")
        plan.state, plan.approved_at, plan.approved_by = "approved", now, staff.id
    elif to == "draft":
        if plan.state != "submitted":
            raise PlanError(f"the {year} plan is {plan.state}: only a submitted plan goes back "
                            "to draft")
        if staff.role != "admin":
            raise PlanError(f"{staff.name} is a {staff.role}: only an admin sends it back")
        plan.state, plan.submitted_at, plan.submitted_by = "draft", None, None
    else:
        raise PlanError(f"no plan state {to!r}")
    await session.flush()
    return plan


@dataclass
class BudgetLine:
    """Planned against spent for one scope and key (``("year", "")`` for the whole plan)."""

    scope: str
    key: str
    budget: int | None
    planned: int = 0
    spent: int = 0
    entries: int = 0
    done: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "key": self.key, "budget": self.budget,
                "planned": self.planned, "spent": self.spent, "entries": self.entries,
                "done": self.done,
                "remaining": None if self.budget is None else self.budget - self.spent}


@dataclass
class PlanSummary:
    """A plan's state and its budget: the year, then per tier and per segment."""

    plan: CarePlan
    lines: list[BudgetLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        p = self.plan
        return {"year": p.year, "state": p.state,
                "submitted_at": p.submitted_at.isoformat() if p.submitted_at else None,
                "approved_at": p.approved_at.isoformat() if p.approved_at else None,
                "budget": [line.as_json() for line in self.lines]}


async def summarize(session: AsyncSession, year: int) -> PlanSummary:
    """The plan of ``year`` with planned and spent sums against each budget line."""
    plan = await get_plan(session, year)
    budgets = {(b.scope, b.key): b.amount for b in await session.scalars(
        select(CareBudget).where(CareBudget.plan_id == plan.id))}
    rows = (await session.execute(
        select(Customer.tier, Customer.segment, func.count(),
               func.coalesce(func.sum(CareEntry.planned_value), 0),
               func.coalesce(func.sum(CareEntry.spent), 0),
               func.count(CareEntry.outcome_at))
        .join(Customer, Customer.id == CareEntry.customer_id)
        .where(CareEntry.plan_id == plan.id)
        .group_by(Customer.tier, Customer.segment))).all()
    year_line = BudgetLine("year", "", plan.budget)
    lines: dict[tuple[str, str], BudgetLine] = {}
    for tier, segment, count, planned, spent, done in rows:
        for scope, key in (("tier", tier), ("segment", segment or "")):
            line = lines.setdefault((scope, key), BudgetLine(scope, key,
                                                             budgets.get((scope, key))))
            line.entries += count
            line.planned += int(planned or 0)
            line.spent += int(spent or 0)
            line.done += done
        year_line.entries += count
        year_line.planned += int(planned or 0)
        year_line.spent += int(spent or 0)
        year_line.done += done
    for (scope, key), amount in budgets.items():
        lines.setdefault((scope, key), BudgetLine(scope, key, amount))
    order = {t: i for i, t in enumerate(TIERS)}
    ordered = sorted(lines.values(), key=lambda b: (SCOPES.index(b.scope),
                                                    order.get(b.key, 9), b.key))
    return PlanSummary(plan, [year_line, *ordered])


async def _entry_where(session: AsyncSession, plan: CarePlan, officer: str | None,
                       month: int | None, customer_id: int | None) -> list[Any]:
    where: list[Any] = [CareEntry.plan_id == plan.id]
    if officer is not None:
        where.append(CareEntry.officer_id == (await find_staff(session, officer)).id)
    if month is not None:
        if not 1 <= month <= 12:
            raise PlanError("month is 1-12")
        year = plan.year
        where += [CareEntry.on_date >= date(year, month, 1),
                  CareEntry.on_date < (date(year, month + 1, 1) if month < 12
                                       else date(year + 1, 1, 1))]
    if customer_id is not None:
        where.append(CareEntry.customer_id == customer_id)
    return where


async def count_entries(session: AsyncSession, year: int, *, officer: str | None = None,
                        month: int | None = None, customer_id: int | None = None) -> int:
    """How many entries ``entries`` would give without ``offset`` and ``limit``."""
    plan = await get_plan(session, year)
    where = await _entry_where(session, plan, officer, month, customer_id)
    return int(await session.scalar(select(func.count()).select_from(CareEntry)
                                    .where(*where)) or 0)


async def entries(session: AsyncSession, year: int, *, officer: str | None = None,
                  month: int | None = None, customer_id: int | None = None,
                  offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """The plan's entries by date, with the account and officer names (``account_id``: the
    account's public id); ``offset`` and ``limit`` take one page of them."""
    plan = await get_plan(session, year)
    query = (select(CareEntry, Customer.name, Customer.tier, Customer.public_id, Staff.name)
             .join(Customer, Customer.id == CareEntry.customer_id)
             .outerjoin(Staff, Staff.id == CareEntry.officer_id)
             .where(*await _entry_where(session, plan, officer, month, customer_id)))
    if customer_id is None:
        # the accounts by name as people read it, folded once per account rather than once
        # per entry (PostgreSQL's translate() is the cost of a page deep in the plan)
        ranked = select(Customer.id.label("customer_id"), func.row_number().over(order_by=(
            bytewise(folded(Customer.name_key)), bytewise(Customer.name_key), Customer.id))
            .label("place")).cte("ranked")
        query = query.join(ranked, ranked.c.customer_id == CareEntry.customer_id).order_by(
            CareEntry.on_date, ranked.c.place, CareEntry.id)
    else:
        query = query.order_by(CareEntry.on_date, CareEntry.id)
    labels = {o.key: o.label for o in occasions(year)}
    rows = (await session.execute(query.offset(offset).limit(limit))).all()
    return [{"id": e.id, "date": e.on_date.isoformat(), "account": name,
             "account_id": str(public_id), "tier": tier,
             "occasion": e.occasion, "label": occasion_label(e.occasion, labels),
             "action": e.action, "gift": e.gift, "planned_value": e.planned_value,
             "officer": officer_name, "status": e.status, "spent": e.spent,
             "gift_sent": e.gift_sent, "customer_words": e.customer_words,
             "ticket_id": e.ticket_id,
             "ticket_number": ticket_number(e.ticket_id) if e.ticket_id else None}
            for e, name, tier, public_id, officer_name in rows]


def occasion_label(key: str, labels: dict[str, str]) -> str:
    """How people read an occasion key."""
    if key.startswith("contact_"):
        return f"{OCCASION_LABELS['contact']} tháng {int(key.removeprefix('contact_'))}"
    return labels.get(key) or OCCASION_LABELS.get(key, key)
