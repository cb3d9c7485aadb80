"""Signing in to the pages on both backend pairs: sessions, CSRF, lockout, idle expiry."""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from desk.lockout import LockoutPolicy
from desk.passwords import hash_password, set_password, staff_by_login, verify
from desk.sign_in import LOCKOUT
from desk.web_session import COOKIE
from ingest.settings import Settings
from ingest.web.app import create_app
from ingest.web.session_key import key_file, session_key
from storage.db import SessionFactory
from storage.models import SignInFailure
from tests.support.clock import Clock
from tests.support.pages import PASSWORD, Client, add_officer, csrf_of, sign_in

AiohttpClient = Callable[..., Awaitable[Client]]
START = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def client(backend: Any, sessions: SessionFactory, clock: Clock,
                 aiohttp_client: AiohttpClient) -> Client:
    await add_officer(sessions, "Đức", ["cskh"], email="Duc.Tran@CongTy.vn")
    app = create_app(backend.settings(), ("webhooks",), clock=clock)
    app[LOCKOUT] = LockoutPolicy(delay=0.001, max_delay=0.002)
    return await aiohttp_client(app)


async def _login_form(client: Client) -> str:
    return csrf_of(await (await client.get("/login")).text())


async def _post_login(client: Client, login: str, password: str,
                      csrf: str | None = None) -> tuple[int, str]:
    token = csrf if csrf is not None else await _login_form(client)
    resp = await client.post("/login", allow_redirects=False,
                             data={"csrf_token": token, "login": login, "password": password})
    return resp.status, await resp.text()


def test_passwords_are_argon2_and_nfc() -> None:
    decomposed = "me\u0302\u0301t-khau-123"  # 'ế' as an IME may type it
    stored = hash_password("mết-khau-123")
    assert stored.startswith("$argon2id$") and "mết" not in stored
    assert verify(stored, decomposed) and not verify(stored, "mết-khau-124")
    assert not verify(None, "anything-at-all")


def test_wrong_passwords_wait_longer_up_to_a_cap() -> None:
    policy = LockoutPolicy(delay=0.25, max_delay=2.0)
    assert [policy.slowdown(n) for n in range(6)] == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0]


async def test_login_matches_name_or_email_ignoring_case(sessions: SessionFactory) -> None:
    await add_officer(sessions, "Đức", ["cskh"], email="Duc.Tran@CongTy.vn")
    async with sessions() as session:
        for typed in ("Đức", "đức", "ĐỨC", " đỨc ", "duc.tran@congty.vn", "DUC.TRAN@CONGTY.VN"):
            found = await staff_by_login(session, typed)
            assert found is not None and found.name == "Đức", typed
        assert await staff_by_login(session, "Duc") is None


async def test_anonymous_visitors_are_sent_to_login(client: Client) -> None:
    home = await client.get("/", allow_redirects=False)
    assert (home.status, home.headers["Location"]) == (303, "/login")
    inbox = await client.get("/inbox?tab=all", allow_redirects=False)
    target = urlsplit(inbox.headers["Location"])
    assert (inbox.status, target.path) == (303, "/login")
    assert parse_qs(target.query) == {"next": ["/inbox?tab=all"]}
    htmx = await client.get("/inbox", allow_redirects=False, headers={"HX-Request": "true"})
    assert htmx.status == 401 and htmx.headers["HX-Redirect"].startswith("/login")
    page = await client.get("/login")
    assert "Đăng nhập" in await page.text()
    assert page.headers["Cache-Control"] == "no-store"


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(client: Client) -> None:
    assert (await _post_login(client, "duc.tran@congty.vn", "sai-mat-khau"))[0] == 401
    csrf = await _login_form(client)
    resp = await client.post("/login?next=/inbox%3Ftab%3Dall", allow_redirects=False,
                             data={"csrf_token": csrf, "login": "ĐỨC", "password": PASSWORD})
    assert (resp.status, resp.headers["Location"]) == (303, "/inbox?tab=all")
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert PASSWORD not in cookie.value and "Đức" not in cookie.value
    page = await client.get("/inbox")
    html = await page.text()
    assert page.status == 200 and "Đức" in html
    session_csrf = csrf_of(html)
    assert session_csrf != csrf  # a fresh session at sign-in
    home = await client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/inbox"

    refused = await client.post("/logout", allow_redirects=False, data={})
    assert refused.status == 403 and "tải lại trang" in await refused.text()
    assert (await client.get("/inbox", allow_redirects=False)).status == 200
    out = await client.post("/logout", allow_redirects=False,
                            headers={"X-CSRF-Token": session_csrf})
    assert (out.status, out.headers["Location"]) == (303, "/login")
    assert (await client.get("/inbox", allow_redirects=False)).status == 303


async def test_login_without_the_csrf_token_is_refused(client: Client) -> None:
    resp = await client.post("/login", allow_redirects=False,
                             data={"login": "Đức", "password": PASSWORD})
    assert resp.status == 403
    assert (await _post_login(client, "Đức", PASSWORD, csrf="forged"))[0] == 403
    assert (await client.get("/inbox", allow_redirects=False)).status == 303


async def test_blank_or_oversized_input_is_a_400_with_the_reason(client: Client) -> None:
    status, body = await _post_login(client, "", PASSWORD)
    assert status == 400 and "Hãy nhập tên" in body
    status, body = await _post_login(client, "x" * 400, PASSWORD)
    assert status == 400 and "quá dài" in body


async def test_repeated_failures_lock_the_name_then_let_go(
        client: Client, clock: Clock, sessions: SessionFactory) -> None:
    for _ in range(4):
        assert (await _post_login(client, "Đức", "sai-mat-khau"))[0] == 401
    status, body = await _post_login(client, "đức", "sai-mat-khau")
    assert status == 429 and "tạm khóa trong 15 phút" in body
    # now even the right password (or the e-mail's) is refused, and says for how long
    clock.now = START + timedelta(minutes=4)
    status, body = await _post_login(client, "ĐỨC", PASSWORD)
    assert status == 429 and "tạm khóa trong 11 phút" in body
    assert (await client.get("/inbox", allow_redirects=False)).status == 303
    clock.now = START + timedelta(minutes=16)
    await sign_in(client, "Đức")
    async with sessions() as session:  # success forgot the name's failures
        left = await session.scalar(select(func.count()).select_from(SignInFailure).where(
            SignInFailure.kind == "name"))
    assert left == 0


async def test_one_address_guessing_many_names_is_locked(client: Client) -> None:
    for n in range(20):
        assert (await _post_login(client, f"khach{n}", "sai-mat-khau"))[0] == 401
    status, body = await _post_login(client, "Đức", PASSWORD)
    assert status == 429 and "phút" in body


async def test_an_idle_session_ends(client: Client, clock: Clock) -> None:
    await sign_in(client, "Đức")
    clock.now = START + timedelta(hours=11)
    assert (await client.get("/inbox", allow_redirects=False)).status == 200
    clock.now = START + timedelta(hours=22)  # 11 h after the last request: still alive
    assert (await client.get("/inbox", allow_redirects=False)).status == 200
    clock.now = START + timedelta(hours=34, minutes=1)
    assert (await client.get("/inbox", allow_redirects=False)).status == 303


async def test_a_new_password_ends_the_sessions_of_the_old(
        client: Client, sessions: SessionFactory) -> None:
    await sign_in(client, "Đức")
    async with sessions() as session, session.begin():
        await set_password(session, "Đức", "mật-khẩu-mới-hơn")
    assert (await client.get("/inbox", allow_redirects=False)).status == 303
    assert (await _post_login(client, "Đức", PASSWORD))[0] == 401
    await sign_in(client, "Đức", "mật-khẩu-mới-hơn")


async def test_cookie_is_secure_behind_https(backend: Any, sessions: SessionFactory,
                                             aiohttp_client: AiohttpClient) -> None:
    await add_officer(sessions, "Lan", ["cskh"])
    app = create_app(backend.settings(public_url="https://cskh.congty.vn"), ("webhooks",))
    client = await aiohttp_client(app)
    resp = await client.get("/login")  # the form's session (its CSRF token) is Secure already
    cookie = resp.cookies[COOKIE]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_the_session_key_is_kept_beside_the_sqlite_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cskh.db'}")
    path = key_file(settings.database_url)
    assert path == tmp_path / "data" / "cskh.db.session-key"
    first = session_key(settings)
    assert len(first) == 32 and path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_key(settings) == first  # a restart keeps the sessions
    secret = Settings(database_url=settings.database_url, session_secret="s" * 40)
    assert session_key(secret) != first
    assert key_file("postgresql+asyncpg://u@h/db") is None
    with pytest.raises(ValueError, match="32"):
        Settings(session_secret="short")


async def test_a_restart_keeps_the_officer_signed_in(
        backend: Any, sessions: SessionFactory, aiohttp_client: AiohttpClient,
        tmp_path: Path) -> None:
    await add_officer(sessions, "Lan", ["cskh"])
    settings = backend.settings(session_secret="k" * 40)
    first = await aiohttp_client(create_app(settings, ("webhooks",)))
    await sign_in(first, "Lan")
    cookie = first.session.cookie_jar.filter_cookies(first.make_url("/"))[COOKIE].value
    await first.close()
    second = await aiohttp_client(create_app(settings, ("webhooks",)))
    resp = await second.get("/inbox", allow_redirects=False, cookies={COOKIE: cookie})
    assert resp.status == 200
