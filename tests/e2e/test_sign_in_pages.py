"""Signing in and out in real Chromium, on both backend pairs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Browser

from desk.web_session import COOKIE
from ingest.web.app import create_app
from storage.db import SessionFactory
from tests.support.browser import artifact
from tests.support.pages import PASSWORD, Client, add_officer, page_errors, sign_in_page

AiohttpClient = Callable[..., Awaitable[Client]]


async def test_an_officer_signs_in_and_out_in_chromium(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    await add_officer(sessions, "Nguyễn Thị Lan", ["cskh"], email="lan@congty.vn")
    client = await aiohttp_client(create_app(backend.settings(), ("webhooks",)))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)  # script errors and CSP refusals (not the 401 of a wrong password)

    await page.goto(f"{base}/")
    assert page.url == f"{base}/login"
    await page.fill("#login", "lan@congty.vn")
    await page.fill("#password", "sai-mật-khẩu")
    await page.click("button[type=submit]")
    assert await page.text_content("#sign-in-error") == "Sai tên hoặc mật khẩu."
    assert await page.input_value("#login") == "lan@congty.vn"
    assert await page.input_value("#password") == ""
    await page.screenshot(path=str(artifact(f"sign-in-{backend.name}.png")))

    await sign_in_page(page, base, "NGUYỄN THỊ LAN")
    assert await page.text_content("#me-name") == "Nguyễn Thị Lan"
    cookie = next(c for c in await page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it

    await page.click("#logout")
    await page.wait_for_url(f"{base}/login")
    await page.goto(f"{base}/inbox")
    assert page.url.startswith(f"{base}/login?next=")
    assert errors == []  # nothing broke the CSP


async def test_wrong_passwords_lock_the_name_out_in_chromium(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        browser: Browser) -> None:
    await add_officer(sessions, "Trần Minh", ["cskh"])
    await add_officer(sessions, "Phạm Hà", ["cskh"])
    client = await aiohttp_client(create_app(backend.settings(), ("webhooks",)))
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    errors = page_errors(page)

    async def attempt(login: str, password: str) -> str:
        await page.goto(f"{base}/login")
        await page.fill("#login", login)
        await page.fill("#password", password)
        await page.click("button[type=submit]")
        await page.locator("#sign-in-error").wait_for()
        return await page.text_content("#sign-in-error") or ""

    for _ in range(4):
        assert await attempt("trần minh", "đoán-mò") == "Sai tên hoặc mật khẩu."
    locked = await attempt("Trần Minh", "đoán-mò")  # the fifth locks the name
    assert locked.startswith("Sai mật khẩu quá nhiều lần"), locked
    assert "15 phút" in locked
    # locked: even the right password is not checked, and no session is made
    assert (await attempt("TRẦN MINH", PASSWORD)).startswith("Sai mật khẩu quá nhiều lần")
    await page.goto(f"{base}/inbox")
    assert page.url.startswith(f"{base}/login?next=")
    await page.screenshot(path=str(artifact(f"sign-in-locked-{backend.name}.png")))
    # another officer from the same address still signs in (20 failures lock an address)
    await sign_in_page(page, base, "Phạm Hà")
    assert await page.text_content("#me-name") == "Phạm Hà"
    assert errors == []
