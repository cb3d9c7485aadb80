"""Zalo OA access tokens: the OAuth v4 refresh, which also rotates the refresh token.

``POST {oauth}/v4/oa/access_token`` with the app's secret key in a ``secret_key`` header and
the form ``refresh_token``, ``app_id``, ``grant_type=refresh_token``; the answer is
``{"access_token", "refresh_token", "expires_in"}`` (seconds, as a string: 25 hours)
(https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new).
A refresh token is valid for 3 months and **once**: the new one must be kept. An error is
``{"error": <negative>, "error_name", "error_reason", "error_description"}``, e.g. -14014
(invalid or used refresh token): a refusal; 5xx and 429 are retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.sending import (
    TOKEN_INVALID,
    FreshToken,
    SendRefused,
    SendUnavailable,
    call_provider,
    json_answer,
)

OAUTH_URL = "https://oauth.zaloapp.com"
PATH = "/v4/oa/access_token"


@dataclass(frozen=True, slots=True)
class ZaloRefresh:
    """Refreshes an OA access token for the app ``app_id``."""

    app_id: str
    app_secret: str = field(repr=False)
    oauth_url: str = OAUTH_URL
    timeout: float = 30.0

    async def __call__(self, refresh_token: str, account: str = "") -> FreshToken:
        """The new access token and the rotated refresh token (``account``: unused, the
        refresh token names the OA)."""
        url = self.oauth_url.rstrip("/") + PATH
        form = {"refresh_token": refresh_token, "app_id": self.app_id,
                "grant_type": "refresh_token"}
        status, raw = await call_provider(
            "POST", url, data=form, headers={"secret_key": self.app_secret},
            secrets=(refresh_token, self.app_secret), provider="Zalo OAuth",
            seconds=self.timeout)
        data = json_answer(raw)
        if status >= 500 or status == 429:
            raise SendUnavailable(f"Zalo OAuth HTTP {status}")
        access, rotated = data.get("access_token"), data.get("refresh_token")
        if status == 200 and isinstance(access, str) and access and isinstance(rotated, str):
            return FreshToken(access, rotated, float(str(data.get("expires_in") or 90000)))
        raise SendRefused(f"Zalo OAuth error {data.get('error', status)}: "
                          f"{data.get('error_reason') or data.get('error_name') or ''}",
                          TOKEN_INVALID)
