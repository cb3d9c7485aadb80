"""The web form's HTTP edge without a browser, on both backend pairs: which answers are pages
and which stay JSON, the snippet, the thank-you link's signature, CORS, the size limit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web

from ingest.keys import BUS
from ingest.web.app import create_app
from storage.db import create_engine
from storage.migrate import upgrade
from tests.support.desk import Client

AiohttpClient = Callable[[web.Application], Awaitable[Client]]
SITE = "https://www.thepviet.vn"
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        "Content-Type": "application/x-www-form-urlencoded"}
FIELDS = {"name": "Nguyễn Văn An", "email": "an.nv@thepviet.vn", "message": "Báo giá thép"}


@pytest.fixture
async def client(backend: Any, aiohttp_client: AiohttpClient) -> Client:
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    await engine.dispose()
    settings = backend.settings(form_origins=[SITE], webform_max_bytes=2048,
                                public_url="https://cskh.thepviet.vn/")
    return await aiohttp_client(create_app(settings))


async def test_the_snippet_names_our_public_address_as_text(client: Client) -> None:
    resp = await client.get("/form/snippet")
    html = await resp.text()
    assert resp.status == 200
    assert ("&lt;iframe src=&#34;https://cskh.thepviet.vn/form&#34;" in html
            or "&lt;iframe src=&quot;https://cskh.thepviet.vn/form&quot;" in html)
    assert "https://cskh.thepviet.vn/webhooks/webform" in html and "<iframe" not in html
    assert SITE in html
    assert f"frame-ancestors 'self' {SITE}" in resp.headers["Content-Security-Policy"]


async def test_json_clients_keep_json_and_an_allowed_origin_may_read_it(client: Client) -> None:
    resp = await client.post("/webhooks/webform", json=FIELDS, headers={"Origin": SITE})
    assert resp.status == 202 and resp.content_type == "application/json"
    assert resp.headers["Access-Control-Allow-Origin"] == SITE
    uuid.UUID((await resp.json())["ids"][0])
    bad = await client.post("/webhooks/webform", data=urlencode({**FIELDS, "email": "x@y"}),
                            headers={"Content-Type": PAGE["Content-Type"]})  # no text/html
    body = await bad.json()
    assert bad.status == 400 and body["details"][0]["field"] == "email"
    refused = await client.post("/webhooks/webform", json=FIELDS,
                                headers={"Origin": "https://evil.example.com"})
    assert refused.status == 403 and "CSKH_FORM_ORIGINS" in (await refused.json())["reason"]
    assert "Access-Control-Allow-Origin" not in refused.headers


async def test_preflight_answers_the_allowed_origin_and_refuses_a_signature_header(
        client: Client) -> None:
    ok = await client.options("/webhooks/webform", headers={
        "Origin": SITE, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"})
    assert ok.status == 204
    assert ok.headers["Access-Control-Allow-Origin"] == SITE
    assert ok.headers["Access-Control-Allow-Methods"] == "POST"
    signed = await client.options("/webhooks/webform", headers={
        "Origin": SITE, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-cskh-signature"})
    assert signed.status == 403 and "signature" in (await signed.json())["reason"]


async def test_browser_answers_are_pages(client: Client) -> None:
    big = await client.post("/webhooks/webform", headers={**PAGE, "Origin": SITE},
                            data=urlencode({**FIELDS, "message": "x" * 4000}))
    assert big.status == 413 and big.content_type == "text/html"
    assert "Nội dung quá dài" in await big.text()
    spam = await client.post("/webhooks/webform", headers={**PAGE, "Origin": SITE},
                             data=urlencode({**FIELDS, "website": "http://spam.example.com"}),
                             allow_redirects=False)
    assert spam.status == 303 and spam.headers["Location"].startswith("/form/thanks/")
    thanks = await client.get(spam.headers["Location"])
    assert thanks.status == 200 and "Mã tham chiếu" in await thanks.text()
    assert thanks.headers["Cache-Control"] == "no-store"
    assert 'content="2; url=/form/thanks/' in await thanks.text()  # until the number is there
    stopped = await client.get(spam.headers["Location"] + "?n=30")
    assert "http-equiv" not in await stopped.text()  # ... for a minute at most
    forged = spam.headers["Location"][:-3] + "AAA"
    assert (await client.get(forged)).status == 404
    other = f"/form/thanks/{uuid.uuid4()}.{spam.headers['Location'].rsplit('.', 1)[1]}"
    assert (await client.get(other)).status == 404  # a signature is for one reference only
    page = await client.post("/webhooks/webform", headers=PAGE,
                             data=urlencode({**FIELDS, "category": "<b>vip</b>"}))
    html = await page.text()
    assert page.status == 400 and "Vui lòng chọn một chủ đề trong danh sách." in html
    assert "<b>vip</b>" not in html
    assert page.headers["Cache-Control"] == "no-store"


async def test_a_browser_post_with_the_bus_down_is_told_nothing_was_saved(
        client: Client) -> None:
    await client.app[BUS].close()
    resp = await client.post("/webhooks/webform", headers=PAGE, data=urlencode(FIELDS))
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    html = await resp.text()
    assert "Hiện chúng tôi chưa thể nhận yêu cầu" in html and "Chưa có gì được lưu" in html
