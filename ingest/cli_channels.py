"""``cskh channels auth CHANNEL …`` seeds a channel's token pair; ``cskh channels ls`` shows
each reply channel's state. Tokens are stored, never printed."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelToken, Message

REPLY_CHANNELS = ("email", "facebook", "zalo", "shopee", "lazada", "tiktok")
TOKEN_CHANNELS = ("zalo", "shopee", "lazada", "tiktok")  # tokens kept and refreshed here


def cmd_channels_auth(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings, _with_session

    if not args.access_token.strip():
        raise CliError("--access-token is empty")
    if args.expires_in is not None and args.expires_in <= 0:
        raise CliError("--expires-in must be a positive number of seconds")
    now = datetime.now(UTC)
    expires = None if args.expires_in is None else now + timedelta(seconds=args.expires_in)
    account = (args.shop_id or "").strip()
    if args.channel == "shopee" and not account.isdigit():
        raise CliError("a Shopee token belongs to one shop: give its --shop-id (digits)")

    async def work(session: AsyncSession) -> dict[str, Any]:
        row = await session.get(ChannelToken, (args.channel, account))
        if row is None:
            row = ChannelToken(channel=args.channel, account=account,
                               access_token=args.access_token)
            session.add(row)
        row.access_token = args.access_token.strip()
        row.refresh_token = (args.refresh_token or "").strip() or None
        row.expires_at, row.updated_at = expires, now
        row.lease_owner = row.lease_until = None
        row.last_error = row.last_error_at = None
        return {"channel": args.channel, "account": account,
                "expires_at": None if expires is None else expires.isoformat(),
                "refresh_token": row.refresh_token is not None}

    data = asyncio.run(_with_session(_settings(args), work))
    _print(args, data, [f"{args.channel}{'/' + account if account else ''}: token stored"
                        + (f", expires {data['expires_at']}" if data["expires_at"] else "")
                        + ("" if data["refresh_token"] else " (no refresh token: not "
                           "refreshed)")])
    return 0


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def _channel_state(session: AsyncSession, channel: str) -> dict[str, Any]:
    """What became of the channel's replies: the last one sent, the last one failed."""
    outbound = (Message.channel == channel, Message.direction == "outbound")
    sent = await session.scalar(select(func.max(Message.delivery_updated_at)).where(
        *outbound, Message.delivery_status == "sent"))
    failed = (await session.execute(
        select(Message.delivery_updated_at, Message.delivery_code, Message.delivery_reason)
        .where(*outbound, Message.delivery_status == "failed")
        .order_by(Message.delivery_updated_at.desc(), Message.id.desc()).limit(1))).first()
    return {"last_success_at": _iso(sent),
            "last_error": None if failed is None else f"{failed[1]}: {failed[2] or ''}",
            "last_error_at": None if failed is None else _iso(failed[0])}


def cmd_channels_ls(args: argparse.Namespace) -> int:
    from ingest.cli import _print, _settings, _with_session
    from ingest.senders import reply_senders, tokened_senders

    settings = _settings(args)
    configured = set(reply_senders(settings))
    tokened = {chat.channel for chat in tokened_senders(settings, None, lambda: datetime.now(UTC))}
    from_settings = {"zalo": settings.zalo_oa_access_token,
                     "shopee": settings.shopee_access_token,
                     "lazada": settings.lazada_access_token,
                     "tiktok": settings.tiktok_access_token}

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        tokens = list(await session.scalars(select(ChannelToken).order_by(
            ChannelToken.channel, ChannelToken.account)))
        rows = []
        for channel in REPLY_CHANNELS:
            mine = [t for t in tokens if t.channel == channel]
            source = (None if channel not in tokened else "stored" if mine else
                      "settings" if from_settings.get(channel) is not None else "none")
            rows.append({"channel": channel, "configured": channel in configured,
                         "token": source, **await _channel_state(session, channel),
                         "tokens": [{"account": t.account or None,
                                     "expires_at": _iso(t.expires_at),
                                     "refreshable": t.refresh_token is not None,
                                     "refreshed_at": _iso(t.refreshed_at),
                                     "refresh_error": t.last_error} for t in mine]})
        return rows

    rows = asyncio.run(_with_session(settings, work))
    lines: list[str] = []
    for r in rows:
        lines.append(f"{r['channel']:<9} {'configured' if r['configured'] else 'off':<10} "
                     f"token {r['token'] or '-':<8} sent {r['last_success_at'] or '-'}  "
                     f"failed {(r['last_error'] or '-')[:80]}")
        lines += [f"  {t['account'] or '(every account)'}: expires {t['expires_at'] or '-'}"
                  + ("" if t["refreshable"] else " (no refresh token)")
                  + (f", refresh failed: {t['refresh_error'][:80]}" if t["refresh_error"]
                     else "") for t in r["tokens"]]
    _print(args, rows, lines)
    return 0


def add_channels_parser(sub: Any, common: argparse.ArgumentParser,
                        out: argparse.ArgumentParser) -> None:
    """Register ``cskh channels`` on the ``cskh`` subcommands ``sub``."""
    channels = sub.add_parser(
        "channels", help="reply channels: provider tokens and state",
        description="The channels replies leave on: the provider tokens the service keeps "
                    "(Zalo OA, Shopee, Lazada, TikTok Shop; refreshed by the service) and each "
                    "channel's state.").add_subparsers(dest="channels_command", required=True,
                                               metavar="ACTION")
    auth = channels.add_parser(
        "auth", parents=[common, out], help="store a channel's first token pair",
        description="Store the access token (and refresh token) a provider issued for this "
                    "service, e.g. after the OA or shop authorised the app. The service "
                    "refreshes it before it expires and when the provider calls it expired, "
                    "saving the rotated refresh token. Tokens are never printed.")
    auth.add_argument("channel", choices=TOKEN_CHANNELS, help="the channel")
    auth.add_argument("--access-token", required=True, help="the access token")
    auth.add_argument("--refresh-token", help="the refresh token (without: never refreshed)")
    auth.add_argument("--expires-in", type=float, metavar="S",
                      help="seconds until the access token expires (Zalo: 90000)")
    auth.add_argument("--shop-id", metavar="ID",
                      help="the shop, seller or OA the token belongs to (required for Shopee); "
                           "without: the channel's token for every account")
    auth.set_defaults(func=cmd_channels_auth)
    ls = channels.add_parser("ls", parents=[common, out],
                             help="each channel: configured, token expiry, last success and "
                                  "error",
                             description="For each reply channel: whether a sender is "
                                         "configured, where its token comes from (stored or "
                                         "a CSKH_* setting), each stored token's expiry and "
                                         "last refresh error, and the last reply sent and the "
                                         "last failed. Tokens are never printed.")
    ls.set_defaults(func=cmd_channels_ls)
