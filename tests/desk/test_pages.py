"""The page machinery every desk page stands on: autoescape, the catalogue, headers, static."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from desk.pages import CSP, STATIC, environment, setup_pages

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">Nguyễn'


def _app() -> web.Application:
    app = web.Application()
    setup_pages(app)

    async def page(_request: web.Request) -> web.Response:
        return aiohttp_jinja2.render_template("base.html", _request, {})

    async def hostile(request: web.Request) -> web.Response:
        env = aiohttp_jinja2.get_env(request.app)
        body = env.from_string('{% extends "base.html" %}{% block main %}'
                               '<p id="t">{{ text }}</p>{% endblock %}').render(text=HOSTILE)
        return web.Response(text=body, content_type="text/html")

    app.router.add_get("/page", page)
    app.router.add_get("/hostile", hostile)
    return app


def test_templates_escape_and_speak_vietnamese() -> None:
    env = environment()
    html = env.from_string("{{ _('Customer care') }} {{ t }}").render(t="<b>x</b>")
    assert html == "Chăm sóc khách hàng &lt;b&gt;x&lt;/b&gt;"


def test_vendored_htmx_is_2x_with_licences() -> None:
    vendor = STATIC / "vendor" / "htmx"
    assert (vendor / "LICENSE").is_file() and (vendor / "LICENSE.htmx-ext-sse").is_file()
    assert 'version:"2.' in (vendor / "htmx.min.js").read_text()
    assert "htmx-ext-sse" in (vendor / "README.md").read_text()


async def test_pages_carry_the_policy_and_static_is_served(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(_app())
    resp = await client.get("/page")
    assert resp.status == 200
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
    body = await resp.text()
    assert '<html lang="vi">' in body and "Chăm sóc khách hàng" in body
    src = body.split('<script src="', 1)[1].split('"', 1)[0]
    js = await client.get(src)
    assert js.status == 200 and "htmx" in await js.text()


async def test_hostile_text_is_inert_in_chromium(aiohttp_client: AiohttpClient, browser: Browser,
                                                 tmp_path: Path) -> None:
    client = await aiohttp_client(_app())
    page = await browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(str(client.make_url("/hostile")))
    assert await page.text_content("#t") == HOSTILE
    assert await page.evaluate("window.pwned === undefined")
    assert await page.locator("#t img").count() == 0
    assert await page.evaluate("typeof window.htmx") == "object"
    assert dialogs == []
