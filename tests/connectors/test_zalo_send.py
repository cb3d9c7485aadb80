"""Zalo OA consultation replies against the OpenAPI stand-in: shape, splitting, error codes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from connectors.sending import SendRefused, SendUnavailable
from connectors.zalo_send import ZaloOaSender

OA, USER = "579745863508352884", "8438561224567893215"
THREAD = f"{OA}:{USER}"


def sender(api: Any, token: str) -> ZaloOaSender:
    return ZaloOaSender(token, api.url, timeout=5.0)


async def test_a_reply_reaches_the_follower(zalo_api: Any,
                                            provider_answers: dict[str, Any]) -> None:
    zalo = sender(zalo_api, provider_answers["zalo_token"])
    assert await zalo.send(THREAD, "Dạ em đã xuất lại hóa đơn ạ.")
    assert zalo_api.sent == [(USER, "Dạ em đã xuất lại hóa đơn ạ.")]
    assert provider_answers["zalo_token"] not in repr(zalo)


async def test_a_long_reply_goes_in_pieces_the_api_accepts(
        zalo_api: Any, provider_answers: dict[str, Any]) -> None:
    zalo = sender(zalo_api, provider_answers["zalo_token"])
    text = "Công nợ tháng 10 gồm các hóa đơn sau đây. " * 60  # ≈ 2500 characters
    for part in zalo.parts(THREAD, text):
        await zalo.send(THREAD, part)
    assert len(zalo_api.sent) == 2
    assert " ".join(zalo_api.texts(USER)).split() == text.split()
    with pytest.raises(SendRefused, match="-210"):
        await zalo.send(THREAD, "x" * 2001)


@pytest.mark.parametrize(("code", "message", "error"), [
    (-32, "Your OA reached limit call api", SendUnavailable),
    (-230, "User has not interacted with the OA in the past 7 days", SendRefused),
    (-213, "User has not followed OA", SendRefused),
    (-227, "User is banned or has been inactive for more than 45 days", SendRefused),
])
async def test_error_codes_map_to_retry_or_refusal(
        zalo_api: Any, provider_answers: dict[str, Any], code: int, message: str,
        error: type[Exception]) -> None:
    zalo = sender(zalo_api, provider_answers["zalo_token"])
    zalo_api.script.append(provider_answers["zalo_answer"](code, message))
    with pytest.raises(error, match=re.escape(f"Zalo error {code}: {message}")):
        await zalo.send(THREAD, "Dạ vâng ạ.")
    await zalo.send(THREAD, "Dạ vâng ạ.")
    assert zalo_api.sent == [(USER, "Dạ vâng ạ.")]


async def test_bad_token_visitors_and_outages(zalo_api: Any,
                                              provider_answers: dict[str, Any]) -> None:
    with pytest.raises(SendRefused, match="-216") as caught:
        await sender(zalo_api, "wrong-zalo-token").send(THREAD, "Dạ.")
    assert "wrong-zalo-token" not in str(caught.value)
    assert caught.value.code == "token_invalid"
    zalo = sender(zalo_api, provider_answers["zalo_token"])
    with pytest.raises(SendRefused, match="anonymous"):
        zalo.parts(f"{OA}:anon:conv_98a7b6c5d4e3", "Dạ.")
    zalo_api.script.append((503, {"error": -1, "message": "Service Unavailable"}))
    with pytest.raises(SendUnavailable, match="HTTP 503"):
        await zalo.send(THREAD, "Dạ.")
    token = provider_answers["zalo_token"]
    with pytest.raises(SendUnavailable) as gone:
        await ZaloOaSender(token, "http://127.0.0.1:9", timeout=5.0).send(THREAD, "Dạ.")
    assert token not in str(gone.value)


async def test_the_interaction_window_is_seven_days_and_told_before_sending(
        zalo_api: Any, provider_answers: dict[str, Any]) -> None:
    zalo = sender(zalo_api, provider_answers["zalo_token"])
    assert zalo.window.tagged(timedelta(days=6, hours=23)) is False
    with pytest.raises(SendRefused, match="must write first") as closed:
        zalo.window.tagged(timedelta(days=7, minutes=1))
    assert closed.value.code == "window_closed"
    zalo_api.script.append(provider_answers["zalo_answer"](
        -230, "User has not interacted with the OA in the past 7 days"))
    with pytest.raises(SendRefused) as late:  # Zalo's own count may differ from ours
        await zalo.send(THREAD, "Dạ.")
    assert late.value.code == "window_closed"
