"""Webhook requests accepted per second per channel (signature + validation + durable append),
with p50/p99 latency, against a bare aiohttp handler measured in the same run, on each backend.

    make bench BENCH_ARGS="channels"          # or: python -m tests.bench channels --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from connectors.signing import hmac_sha256_hex, sha256_hex
from tests.bench.bench_flow import CSKH, Server, fresh_backend, pct, prepare
from tests.support.service import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRETS = {
    "facebook_app_secret": "bench-fb", "zalo_oa_secret": "bench-zalo",
    "zalo_app_id": "2154781093528401638", "shopee_partner_key": "bench-shopee",
    "shopee_callback_url": "https://cskh.example.vn/webhooks/shopee",
    "lazada_app_key": "112233", "lazada_app_secret": "bench-lazada",
    "tiktok_app_key": "6c8f2k1q9m3d7", "tiktok_app_secret": "bench-tiktok",
    "hotline_secret": "bench-hotline", "webform_secret": "bench-form",
}


def _zalo(body: bytes) -> dict[str, str]:
    found = re.search(rb'"timestamp"\s*:\s*"?(\d+)', body)
    mac = sha256_hex(SECRETS["zalo_app_id"].encode(), body, found.group(1) if found else b"",
                     SECRETS["zalo_oa_secret"].encode())
    return {"X-ZEvent-Signature": f"mac={mac}"}


# channel → (fixture with a customer message, how the provider signs the raw body)
CHANNELS: dict[str, tuple[str, Callable[[bytes], dict[str, str]]]] = {
    "webform": ("", lambda b: {"X-CSKH-Signature": "sha256=" + hmac_sha256_hex(
        SECRETS["webform_secret"], b)}),
    "facebook": ("facebook/message__text.json", lambda b: {
        "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(SECRETS["facebook_app_secret"], b)}),
    "zalo": ("zalo/user_send_text__plain.json", _zalo),
    "shopee": ("shopee/webchat__text.json", lambda b: {"Authorization": hmac_sha256_hex(
        SECRETS["shopee_partner_key"], SECRETS["shopee_callback_url"].encode(), b"|", b)}),
    "lazada": ("lazada/im_message__text.json", lambda b: {"Authorization": hmac_sha256_hex(
        SECRETS["lazada_app_secret"], SECRETS["lazada_app_key"].encode(), b)}),
    "tiktok": ("tiktok/new_message__text.json", lambda b: {"Authorization": hmac_sha256_hex(
        SECRETS["tiktok_app_secret"], SECRETS["tiktok_app_key"].encode(), b)}),
    "hotline": ("hotline/hangup__no_answer.json", lambda b: {
        "X-CSKH-Signature": "sha256=" + hmac_sha256_hex(SECRETS["hotline_secret"], b)}),
}


def payload(channel: str) -> bytes:
    fixture = CHANNELS[channel][0]
    if not fixture:
        return json.dumps({"name": "Trần Thị Hoa", "email": "hoa@abc.vn",
                           "message": "Hóa đơn VAT sai mã số thuế, xin xuất lại."},
                          ensure_ascii=False).encode()
    return json.dumps(json.loads((FIXTURES / fixture).read_text("utf-8"))["body"],
                      ensure_ascii=False).encode()


async def hammer(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
                 n: int, concurrency: int) -> tuple[float, list[float], int]:
    """``n`` posts of ``body``; returns (requests/s, latencies in ms, non-2xx count)."""
    latencies: list[float] = []
    failures = 0
    todo = iter(range(n))

    async def worker() -> None:
        nonlocal failures
        for _ in todo:
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                failures += resp.status >= 300
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - began), latencies, failures


async def bench(kind: str, args: argparse.Namespace) -> None:
    name = "sqlite+embedded" if kind == "embedded" else "postgres+kafka"
    async with fresh_backend(kind) as (env, _url):
        work = Path(tempfile.mkdtemp(prefix="cskh-bench-channels-"))
        base_env = prepare(env, work)
        secrets = {f"CSKH_{k.upper()}": v for k, v in SECRETS.items()}
        port, bare_port = free_port(), free_port()
        ours = Server([CSKH, "serve", "--role", "webhooks"],
                      {**base_env, **secrets, "CSKH_HTTP_PORT": str(port)}, work, port)
        bare = Server([sys.executable, str(Path(__file__).with_name("bare.py")), str(bare_port)],
                      dict(os.environ), work, bare_port)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await ours.start(http)
            await bare.start(http)
            print(f"[{name}] {'channel':<9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'bare req/s':>10} {'ratio':>6}")
            for channel, (_, sign) in CHANNELS.items():
                body = payload(channel)
                headers = {"Content-Type": "application/json", **sign(body)}
                await hammer(http, f"{ours.url}/webhooks/{channel}", body, headers, 200, 16)
                ceiling = statistics.median([
                    (await hammer(http, f"{bare.url}/webhooks/webform", body, headers,
                                  args.requests, args.concurrency))[0]
                    for _ in range(2)])
                rate, lat, failed = await hammer(http, f"{ours.url}/webhooks/{channel}", body,
                                                 headers, args.requests, args.concurrency)
                note = f"  ({failed} not accepted)" if failed else ""
                print(f"[{name}] {channel:<9} {rate:>7,.0f} {pct(lat, 0.5):>7.1f} "
                      f"{pct(lat, 0.99):>7.1f} {ceiling:>10,.0f} {rate / ceiling:>6.0%}{note}")
            ours.stop()
            bare.stop()
        shutil.rmtree(work, ignore_errors=True)


async def run(args: argparse.Namespace) -> int:
    kinds = ["embedded", "distributed"] if args.backend == "both" else [args.backend]
    if not (os.environ.get("CSKH_TEST_KAFKA") and os.environ.get("CSKH_TEST_POSTGRES_DSN")):
        kinds = [k for k in kinds if k != "distributed"]
    for kind in kinds:
        await bench(kind, args)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench channels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "distributed", "both"),
                        default="both")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    return asyncio.run(run(parser.parse_args(argv)))
