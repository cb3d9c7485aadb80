"""``cskh survey campaign create|ls|show|close``: the twice-yearly satisfaction campaign."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.reports.periods import LOCAL
from desk.surveys.campaign import (
    TIERS,
    CampaignSummary,
    close_campaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    parse_send_at,
    summarize,
)
from storage.models import CampaignInvitation, Contact, Customer


def _local(value: datetime | None) -> str:
    return value.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if value else "-"


def _line(s: CampaignSummary) -> str:
    c = s.campaign
    filters = ", ".join(f for f in (f"tier {c.tier}" if c.tier else "",
                                    f"segment {c.segment}" if c.segment else "") if f)
    return (f"{c.name}  [{c.state}]  send {_local(c.send_at)}  remind after {c.remind_days} d"
            f"{'  (' + filters + ')' if filters else ''}  accounts {s.accounts} "
            f"({s.without_contact} without a contact), invited "
            f"{s.invited}, sent {s.sent}, manual {s.manual}, reminded {s.reminded}, answered "
            f"{s.answered}")


def _run(args: argparse.Namespace, work: Any) -> Any:
    from ingest.cli import _settings, _with_session

    return asyncio.run(_with_session(_settings(args), work))


def cmd_campaign_create(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    now = datetime.now(UTC)

    async def work(session: AsyncSession) -> CampaignSummary:
        campaign = await create_campaign(
            session, name=args.name, tier=args.tier, segment=args.segment,
            send_at=parse_send_at(args.send_at, now), remind_days=args.remind_days, now=now)
        return await summarize(session, campaign)

    summary = _run(args, work)
    _print(args, summary.as_json(), [f"created: {_line(summary)}"])
    return 0


def cmd_campaign_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    summaries: list[CampaignSummary] = _run(args, list_campaigns)
    _print(args, [s.as_json() for s in summaries],
           [_line(s) for s in summaries] or ["no campaign yet"])
    return 0


def cmd_campaign_show(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> tuple[CampaignSummary, list[dict[str, Any]]]:
        campaign = await get_campaign(session, args.name)
        manual = [{"account": name, "contact": contact_name, "email": email, "phone": phone,
                   "channel": channel, "reason": reason}
                  for name, contact_name, email, phone, channel, reason in (
                      await session.execute(
                          select(Customer.name, Contact.name, Contact.email, Contact.phone,
                                 CampaignInvitation.channel, CampaignInvitation.reason)
                          .join(Contact, Contact.id == CampaignInvitation.contact_id)
                          .outerjoin(Customer, Customer.id == CampaignInvitation.customer_id)
                          .where(CampaignInvitation.campaign_id == campaign.id,
                                 CampaignInvitation.status == "manual")
                          .order_by(Customer.name)))]
        return await summarize(session, campaign), manual

    summary, manual = _run(args, work)
    lines = [_line(summary)]
    if manual:
        lines.append("to ask by hand (no channel can carry the survey):")
        lines += [f"  {m['account']}: {m['contact'] or ''} {m['email'] or m['phone'] or ''} "
                  f"({m['reason']})" for m in manual]
    _print(args, {**summary.as_json(), "manual": manual}, lines)
    return 0


def cmd_campaign_close(args: argparse.Namespace) -> int:
    from ingest.cli import _print

    async def work(session: AsyncSession) -> CampaignSummary:
        return await summarize(session, await close_campaign(session, args.name,
                                                             datetime.now(UTC)))

    summary = _run(args, work)
    _print(args, summary.as_json(), [f"closed: {_line(summary)}"])
    return 0


def add_campaign_parser(sub: Any, common: argparse.ArgumentParser,
                        out: argparse.ArgumentParser) -> None:
    """Register ``cskh survey campaign …`` on the ``cskh`` subcommands ``sub``."""
    survey = sub.add_parser(
        "survey", help="satisfaction surveys",
        description="Satisfaction surveys beyond the one after each resolved ticket: the "
                    "twice-yearly campaign to every active account.").add_subparsers(
        dest="survey_command", required=True, metavar="WHAT")
    campaign = survey.add_parser(
        "campaign", help="the twice-yearly satisfaction campaign",
        description="A longer survey (overall 1-5, recommend 0-10, six topics 1-5 with "
                    "comments) to one contact of every active account: the marked survey "
                    "contact, else the one with the most tickets; on e-mail, else the chat "
                    "of their latest ticket, else listed by `show` to ask by hand. Sent by "
                    "the router role once --send-at has passed, once per account; one "
                    "reminder --remind-days later to who has not answered. Figures: "
                    "`cskh report campaign NAME`.").add_subparsers(
        dest="campaign_command", required=True, metavar="ACTION")
    create = campaign.add_parser(
        "create", parents=[common, out], help="a new campaign",
        description="A new campaign to every active account (or those of --tier and "
                    "--segment), sent once --send-at has passed.")
    create.add_argument("--name", required=True, help="unique, e.g. \"Khảo sát hài lòng 6 "
                                                      "tháng cuối 2026\"")
    create.add_argument("--tier", choices=TIERS, help="only accounts of this tier")
    create.add_argument("--segment", help="only accounts of this segment")
    create.add_argument("--send-at", metavar="DATE",
                        help="YYYY-MM-DD (08:00 Vietnamese time) or an ISO date-time; "
                             "default now")
    create.add_argument("--remind-days", type=int, default=5, metavar="N",
                        help="remind who has not answered N days after the ask (default 5)")
    create.set_defaults(func=cmd_campaign_create)
    ls = campaign.add_parser(
        "ls", parents=[common, out], help="every campaign, with counts",
        description="Every campaign: state, send time, filters, accounts, invitations sent, "
                    "to ask by hand, reminded and answered.")
    ls.set_defaults(func=cmd_campaign_ls)
    show = campaign.add_parser(
        "show", parents=[common, out], help="one campaign's counts and who to ask by hand",
        description="One campaign's counts, and the contacts no channel can carry the survey "
                    "to, with the reason, for staff to ask by hand.")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(func=cmd_campaign_show)
    close = campaign.add_parser(
        "close", parents=[common, out], help="stop sending and reminding; its links close now",
        description="Stop sending and reminding; the campaign's survey links stop taking "
                    "answers now.")
    close.add_argument("name", metavar="NAME")
    close.set_defaults(func=cmd_campaign_close)
