"""Stand-ins for the marketplaces' send APIs: Shopee seller chat, Lazada IM, TikTok Shop
customer service.

Each checks the request the way the provider does — path, system parameters, its own
signature (computed here independently of ``connectors``), the token, the timestamp's age —
and answers with the provider's success or error body. ``StandIn.script`` queues answers for
the next valid requests; ``refuse`` answers one recipient (buyer id, session, conversation)
with a permanent error every time. ``sent`` holds ``(recipient, text)`` in arrival order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from aiohttp import web

from tests.support.providers import Answer, StandIn

SHOPEE_PARTNER_ID, SHOPEE_PARTNER_KEY = "2004512", "shpk-partner-key-stand-in-9f3e"
SHOPEE_TOKEN, SHOPEE_SHOP = "shopee-access-token-stand-in-41ab", "220611345"
LAZADA_APP_KEY, LAZADA_APP_SECRET = "120375", "lzd-app-secret-stand-in-8c1d"
LAZADA_TOKEN = "50000601c30atpedfgu3LVvik87Ixlsvle3mSoB7701ceb156fPunYZ43GBg"
TIKTOK_APP_KEY, TIKTOK_APP_SECRET = "6a1b2c3d4e5f6", "tts-app-secret-stand-in-2e7f"
TIKTOK_TOKEN, TIKTOK_CIPHER = "ROW_tts-access-token-stand-in-77c0", "ROW_Ab12CdEf"
MAX_SKEW = 300  # seconds


def _hmac(key: str, text: bytes) -> str:
    return hmac.new(key.encode(), text, hashlib.sha256).hexdigest()


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=status)


def shopee_error(error: str, message: str, status: int = 400) -> Answer:
    """A Shopee Open Platform v2 error body."""
    return status, {"request_id": uuid.uuid4().hex, "error": error, "message": message}


def shopee_app(state: StandIn) -> web.Application:
    path = "/api/v2/sellerchat/send_message"

    async def send(request: web.Request) -> web.Response:
        state.attempts += 1
        q = request.query
        try:
            stamp = int(q.get("timestamp", ""))
        except ValueError:
            return _json(*shopee_error("error_param", "Wrong parameters, timestamp is "
                                                      "required."))
        if q.get("partner_id") != SHOPEE_PARTNER_ID:
            return _json(*shopee_error("error_param", "No partner_id.", 403))
        if abs(time.time() - stamp) > MAX_SKEW:
            return _json(*shopee_error("error_param", "Invalid timestamp.", 403))
        base = f"{SHOPEE_PARTNER_ID}{path}{stamp}{q.get('access_token', '')}" \
               f"{q.get('shop_id', '')}"
        if not hmac.compare_digest(_hmac(SHOPEE_PARTNER_KEY, base.encode()), q.get("sign", "")):
            return _json(*shopee_error("error_sign", "Wrong sign.", 403))
        if q.get("access_token") not in (state.tokens or {SHOPEE_TOKEN}) or \
                q.get("shop_id") != SHOPEE_SHOP:
            return _json(*shopee_error("invalid_acceess_token", "Invalid access_token.", 403))
        try:
            body = await request.json()
        except ValueError:
            return _json(*shopee_error("error_param", "Invalid request body."))
        to_id = body.get("to_id") if isinstance(body, dict) else None
        text = (body.get("content") or {}).get("text") if isinstance(body, dict) else None
        if not isinstance(to_id, int) or body.get("message_type") != "text":
            return _json(*shopee_error("error_param", "to_id and message_type are required."))
        if not isinstance(text, str) or not text.strip() or len(text) > 1000:
            return _json(*shopee_error("error_param", "content.text is invalid."))
        if (scripted := state._scripted(str(to_id))) is not None:
            return _json(*scripted)
        state.sent.append((str(to_id), text))
        return _json(200, {"request_id": uuid.uuid4().hex, "error": "", "message": "",
                           "response": {"to_id": to_id, "message_id": str(uuid.uuid4().int)[:19],
                                        "message_type": "text", "content": {"text": text},
                                        "conversation_id": "1297736781437465091",
                                        "created_timestamp": int(time.time()),
                                        "message_option": 0}})

    async def refresh(request: web.Request) -> web.Response:
        # https://open.shopee.com/documents/v2/v2.public.refresh_access_token
        state.refreshes += 1
        q = request.query
        auth = "/api/v2/auth/access_token/get"
        base = f"{q.get('partner_id', '')}{auth}{q.get('timestamp', '')}"
        if q.get("partner_id") != SHOPEE_PARTNER_ID or not hmac.compare_digest(
                _hmac(SHOPEE_PARTNER_KEY, base.encode()), q.get("sign", "")):
            return _json(*shopee_error("error_sign", "Wrong sign.", 403))
        if abs(time.time() - int(q.get("timestamp") or 0)) > MAX_SKEW:
            return _json(*shopee_error("error_param", "Invalid timestamp.", 403))
        body = await request.json()
        if body.get("partner_id") != int(SHOPEE_PARTNER_ID) or \
                body.get("shop_id") != int(SHOPEE_SHOP):
            return _json(*shopee_error("error_param", "Invalid shop_id or partner_id."))
        pair = state.rotate(str(body.get("refresh_token", "")))
        if pair is None:
            return _json(*shopee_error("error_auth", "Invalid refresh_token.", 403))
        return _json(200, {"request_id": uuid.uuid4().hex, "error": "", "message": "",
                           "access_token": pair[0], "refresh_token": pair[1],
                           "expire_in": 14400, "partner_id": int(SHOPEE_PARTNER_ID),
                           "shop_id": int(SHOPEE_SHOP)})

    app = web.Application()
    app.router.add_post(path, send)
    app.router.add_post("/api/v2/auth/access_token/get", refresh)
    return app


def lazada_error(code: str, message: str, kind: str = "ISV") -> Answer:
    """A Lazada Open Platform error body (HTTP 200, like Lazada)."""
    return 200, {"type": kind, "code": code, "message": message,
                 "request_id": uuid.uuid4().hex[:13]}


def lazada_app(state: StandIn) -> web.Application:
    path = "/im/message/send"

    async def send(request: web.Request) -> web.Response:
        state.attempts += 1
        params = {**request.query,
                  **{k: str(v) for k, v in (await request.post()).items()}}
        given = str(params.pop("sign", ""))
        text = path + "".join(f"{k}{params[k]}" for k in sorted(params))
        if params.get("app_key") != LAZADA_APP_KEY or params.get("sign_method") != "sha256":
            return _json(*lazada_error("IncompleteSignature", "The request signature does not "
                                                              "conform to platform standards"))
        if not hmac.compare_digest(_hmac(LAZADA_APP_SECRET, text.encode()).upper(), given):
            return _json(*lazada_error("IncompleteSignature", "The request signature does not "
                                                              "conform to platform standards"))
        try:
            stamp = int(str(params.get("timestamp", "")))
        except ValueError:
            return _json(*lazada_error("MissingParameter", "timestamp is missing"))
        if abs(time.time() * 1000 - stamp) > MAX_SKEW * 1000:
            return _json(*lazada_error("InvalidTimestamp", "Invalid timestamp"))
        if params.get("access_token") not in (state.tokens or {LAZADA_TOKEN}):
            return _json(*lazada_error("IllegalAccessToken", "The specified access token is "
                                                             "invalid or expired"))
        session = str(params.get("session_id", ""))
        txt = str(params.get("txt", ""))
        if params.get("template_id") != "1" or not session or not txt.strip() or len(txt) > 1000:
            return _json(*lazada_error("InvalidParameter", "session_id, template_id or txt "
                                                           "is invalid"))
        if (scripted := state._scripted(session)) is not None:
            return _json(*scripted)
        state.sent.append((session, txt))
        return _json(200, {"code": "0", "request_id": uuid.uuid4().hex[:13], "success": True,
                           "data": {"message_id": uuid.uuid4().hex, "current_time":
                                    int(time.time() * 1000)}})

    async def refresh(request: web.Request) -> web.Response:
        # https://open.lazada.com/apps/doc/api?path=%2Fauth%2Ftoken%2Frefresh
        state.refreshes += 1
        params = {k: str(v) for k, v in (await request.post()).items()}
        given = params.pop("sign", "")
        text = "/auth/token/refresh" + "".join(f"{k}{params[k]}" for k in sorted(params))
        if params.get("app_key") != LAZADA_APP_KEY or not hmac.compare_digest(
                _hmac(LAZADA_APP_SECRET, text.encode()).upper(), given):
            return _json(*lazada_error("IncompleteSignature", "The request signature does not "
                                                              "conform to platform standards"))
        pair = state.rotate(params.get("refresh_token", ""))
        if pair is None:
            return _json(*lazada_error("IllegalRefreshToken", "The specified refresh token is "
                                                              "invalid or expired"))
        return _json(200, {"access_token": pair[0], "refresh_token": pair[1],
                           "country": "vn", "account_platform": "seller_center",
                           "expires_in": 604800, "refresh_expires_in": 2592000,
                           "account": "shop@congty.vn", "code": "0",
                           "request_id": uuid.uuid4().hex[:13]})

    app = web.Application()
    app.router.add_post(path, send)
    app.router.add_post("/auth/token/refresh", refresh)
    return app


def tiktok_error(code: int, message: str, status: int = 200) -> Answer:
    """A TikTok Shop API error body."""
    return status, {"code": code, "message": message, "request_id": uuid.uuid4().hex,
                    "data": None}


def tiktok_app(state: StandIn) -> web.Application:
    async def send(request: web.Request) -> web.Response:
        state.attempts += 1
        path = request.path
        params = dict(request.query)
        given = params.pop("sign", "")
        raw = await request.read()
        base = path + "".join(f"{k}{params[k]}" for k in sorted(params)
                              if k != "access_token")
        expected = _hmac(TIKTOK_APP_SECRET, f"{TIKTOK_APP_SECRET}{base}".encode() + raw
                         + TIKTOK_APP_SECRET.encode())
        if params.get("app_key") != TIKTOK_APP_KEY:
            return _json(*tiktok_error(106001, "Invalid app_key", 401))
        if not hmac.compare_digest(expected, given):
            return _json(*tiktok_error(106001, "Invalid credentials: sign is wrong", 401))
        if abs(time.time() - int(params.get("timestamp") or 0)) > MAX_SKEW:
            return _json(*tiktok_error(106002, "Invalid timestamp", 401))
        if request.headers.get("x-tts-access-token") not in (state.tokens or {TIKTOK_TOKEN}):
            return _json(*tiktok_error(105002, "Expired credentials", 401))
        if params.get("shop_cipher") != TIKTOK_CIPHER:
            return _json(*tiktok_error(106011, "Invalid shop_cipher"))
        try:
            body = json.loads(raw)
            content = json.loads(body["content"])["content"]
        except (ValueError, KeyError, TypeError):
            return _json(*tiktok_error(36009001, "Invalid message content"))
        if body.get("type") != "TEXT" or not isinstance(content, str) or not content.strip() \
                or len(content) > 1000:
            return _json(*tiktok_error(36009001, "Invalid message content"))
        conversation = request.match_info["conversation"]
        if (scripted := state._scripted(conversation)) is not None:
            return _json(*scripted)
        state.sent.append((conversation, content))
        return _json(200, {"code": 0, "message": "Success", "request_id": uuid.uuid4().hex,
                           "data": {"message_id": str(uuid.uuid4().int)[:19]}})

    async def refresh(request: web.Request) -> web.Response:
        # https://partner.tiktokshop.com/docv2 "Refresh access token" (auth.tiktok-shops.com)
        state.refreshes += 1
        q = request.query
        if q.get("app_key") != TIKTOK_APP_KEY or q.get("app_secret") != TIKTOK_APP_SECRET:
            return _json(*tiktok_error(36004004, "invalid app_key or app_secret"))
        if q.get("grant_type") != "refresh_token":
            return _json(*tiktok_error(36004002, "invalid grant_type"))
        pair = state.rotate(q.get("refresh_token", ""))
        if pair is None:
            return _json(*tiktok_error(36004005, "refresh_token is invalid or expired"))
        now = int(time.time())
        return _json(200, {"code": 0, "message": "success", "request_id": uuid.uuid4().hex,
                           "data": {"access_token": pair[0], "access_token_expire_in":
                                    now + 7 * 86400, "refresh_token": pair[1],
                                    "refresh_token_expire_in": now + 60 * 86400,
                                    "open_id": "7010736057180325637",
                                    "seller_name": "Cong Ty Shop", "seller_base_region": "VN",
                                    "user_type": 0}})

    app = web.Application()
    app.router.add_post("/customer_service/202309/conversations/{conversation}/messages", send)
    app.router.add_get("/api/v2/token/refresh", refresh)
    return app
