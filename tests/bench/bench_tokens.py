"""What a token kept in the database costs a Zalo send, on each storage backend: sends per
second and p50/p99 of one send with a fixed token and with ``ingest.tokens`` (one read of
the token row per send), against the local Zalo stand-in; and the time of one refresh
(lease, OAuth call, save) with the OAuth stand-in.

    python -m tests.bench tokens [--sends 500] [--backend embedded|distributed|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from connectors.zalo_auth import ZaloRefresh
from connectors.zalo_send import ZaloOaSender
from ingest.logging import configure_logging
from ingest.tokens import TokenedChat, TokenStore
from storage.db import create_engine, session_factory
from storage.models import ChannelToken
from tests.bench.bench_flow import fresh_backend, pct
from tests.support.providers import ZALO_OA_TOKEN, StandIn, serve, zalo_app
from tests.support.zalo_oauth import APP_ID, APP_SECRET, OAuth, oauth_app

THREAD = "579745863508352884:8438561224567893215"


async def timed(send: TokenedChat | ZaloOaSender, count: int) -> tuple[float, list[float]]:
    took: list[float] = []
    began = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        await send.send(THREAD, f"Dạ em trả lời lần {i}.")
        took.append((time.perf_counter() - t) * 1000)
    return time.perf_counter() - began, took


async def bench(kind: str, args: argparse.Namespace) -> None:
    name = "sqlite" if kind == "embedded" else "postgres"
    async with fresh_backend(kind) as (_env, url):
        from storage.migrate import upgrade

        engine = create_engine(url)
        await upgrade(engine)
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            session.add(ChannelToken(channel="zalo", account="", access_token=ZALO_OA_TOKEN,
                                     refresh_token="zl-rt-first",
                                     expires_at=now + timedelta(hours=25), updated_at=now))
        api = StandIn(tokens={ZALO_OA_TOKEN})
        async for zalo in serve(zalo_app(api), api):
            oauth = OAuth(api=zalo, live_refresh={"zl-rt-first"})
            async for running in serve(oauth_app(oauth), StandIn()):
                oauth.url = running.url
                store = TokenStore(sessions, lambda: datetime.now(UTC), "zalo",
                                   ZaloRefresh(APP_ID, APP_SECRET, oauth.url))
                plain = ZaloOaSender(ZALO_OA_TOKEN, zalo.url)
                stored = TokenedChat("zalo", partial(ZaloOaSender, api_url=zalo.url), store)
                await timed(plain, 20)  # warm-up
                fixed, fixed_ms = await timed(plain, args.sends)
                kept, kept_ms = await timed(stored, args.sends)
                refreshes: list[float] = []
                for _ in range(20):
                    t = time.perf_counter()
                    await store.rejected("", (await store.token("")))
                    refreshes.append((time.perf_counter() - t) * 1000)
        await engine.dispose()
    print(f"[{name}] {args.sends} Zalo sends to the local stand-in: fixed token "
          f"{args.sends / fixed:,.0f}/s (p50 {pct(fixed_ms, 0.5):.2f} ms, p99 "
          f"{pct(fixed_ms, 0.99):.2f} ms); token from the database {args.sends / kept:,.0f}/s "
          f"(p50 {pct(kept_ms, 0.5):.2f} ms, p99 {pct(kept_ms, 0.99):.2f} ms); one refresh "
          f"p50 {pct(refreshes, 0.5):.1f} ms")


async def run(args: argparse.Namespace) -> int:
    configure_logging("json", "WARNING")
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    if not os.environ.get("CSKH_TEST_POSTGRES_DSN") or not os.environ.get("CSKH_TEST_KAFKA"):
        kinds = [k for k in kinds if k != "distributed"]
    for kind in kinds:
        await bench(kind, args)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench tokens", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--sends", type=int, default=500)
    return asyncio.run(run(parser.parse_args(argv)))
