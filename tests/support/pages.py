"""Signing in to the staff pages from a test: officers with passwords, forms with CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Page

from desk.passwords import hash_password
from router.staff import add_staff
from storage.db import SessionFactory

Client = TestClient[web.Request, web.Application]
PASSWORD = "mật-khẩu-đủ-dài"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def page_errors(page: Page) -> list[str]:
    """What ``page`` will report from now on that a page test must not see: script errors and
    CSP refusals (the console's "Refused …" lines), in order."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Refused" in m.text else None)
    return errors


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token field in the page"
    return found.group(1)


async def add_officer(sessions: SessionFactory, name: str, queues: Sequence[str], *,
                      role: str = "agent", email: str | None = None,
                      password: str = PASSWORD) -> int:
    """An officer who can sign in with ``password``; their id."""
    async with sessions() as session, session.begin():
        made = await add_staff(session, name, list(queues), role=role, email=email,
                               password_hash=hash_password(password), capacity=50)
    return made.id


async def sign_in(client: Client, login: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in through the form (the session cookie stays in its jar); the CSRF
    token of the signed-in session."""
    form = await client.get("/login")
    resp = await client.post("/login", allow_redirects=False, data={
        "csrf_token": csrf_of(await form.text()), "login": login, "password": password})
    assert resp.status == 303, await resp.text()
    inbox = await client.get("/inbox")
    assert inbox.status == 200
    return csrf_of(await inbox.text())


async def sign_in_page(page: Page, base_url: str, login: str,
                       password: str = PASSWORD) -> None:
    """Sign in in the browser through the form; the inbox is shown after."""
    await page.goto(f"{base_url}/login")
    await page.fill("#login", login)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/inbox**")
