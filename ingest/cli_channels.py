"""``cskh channels auth CHANNEL …`` seeds a channel's token pair; ``cskh channels ls`` shows
each reply channel's state. Tokens are stored, never printed, and never given as arguments
(any user of the host can read a process's arguments): they come from a prompt, or with
``--tokens-stdin`` from standard input."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelToken, Message

REPLY_CHANNELS = ("email", "facebook", "zalo", "shopee", "lazada", "tiktok")
TOKEN_CHANNELS = ("zalo", "shopee", "lazada", "tiktok")  # tokens kept and refreshed here


def read_tokens(from_stdin: bool) -> tuple[str, str | None]:
    """(access token, refresh token or None): standard input's first two lines, or asked for at
    a prompt without echo. ``CliError`` for an empty access token or no terminal to ask on."""
    from ingest.cli import CliError

    if from_stdin:
        lines = sys.stdin.read().splitlines()
        access = lines[0].strip() if lines else ""
        refresh = lines[1].strip() if len(lines) > 1 else ""
        if not access:
            raise CliError("--tokens-stdin: the first line of standard input (the access "
                           "token) is empty")
        return access, refresh or None
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the tokens: use --tokens-stdin (the access "
                       "token on the first line, the refresh token on the second)")
    access = getpass.getpass("Access token: ").strip()
    if not access:
        raise CliError("the access token is empty")
    refresh = getpass.getpass("Refresh token (Enter for none): ").strip()
    return access, refresh or None


def cmd_channels_auth(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings, _with_session

    if args.expires_in is not None and args.expires_in <= 0:
        raise CliError("--expires-in must be a positive number of seconds")
    now = datetime.now(UTC)
    expires = None if args.expires_in is None else now + timedelta(seconds=args.expires_in)
    account = (args.shop_id or "").strip()
    if args.channel == "shopee" and not account.isdigit():
        raise CliError("a Shopee token belongs to one shop: give its --shop-id (digits)")
    access, refresh = read_tokens(args.tokens_stdin)

    async def work(session: AsyncSession) -> dict[str, Any]:
        row = await session.get(ChannelToken, (args.channel, account))
        if row is None:
            row = ChannelToken(channel=args.channel, account=account, access_token=access)
            session.add(row)
        row.access_token, row.refresh_token = access, refresh
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
                    "saving the rotated refresh token. The tokens are asked for at a prompt "
                    "(not echoed) or read with --tokens-stdin, never given as arguments (other "
                    "users of the host can read those), and never printed.")
    auth.add_argument("channel", choices=TOKEN_CHANNELS, help="the channel")
    auth.add_argument("--tokens-stdin", action="store_true",
                      help="read the access token from the first line of standard input and "
                           "the refresh token from the second (none or empty: never "
                           "refreshed), for scripts")
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
