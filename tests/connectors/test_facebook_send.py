"""Messenger replies against the Send API stand-in: request shape, splitting, error mapping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectors.facebook_send import MessengerSender
from connectors.sending import WINDOW_CLOSED, SendRefused, SendUnavailable

PAGE, PSID = "104857361928374", "7283946152038475"
THREAD = f"{PAGE}:{PSID}"


def sender(api: Any, token: str) -> MessengerSender:
    return MessengerSender(token, f"{api.url}/v21.0", timeout=5.0)


async def test_a_reply_reaches_the_psid_as_the_page(messenger_api: Any,
                                                    provider_answers: dict[str, Any]) -> None:
    fb = sender(messenger_api, provider_answers["messenger_token"])
    message_id = await fb.send(THREAD, "Dạ em gửi báo giá thép hộp ạ.")
    assert message_id.startswith("m_")
    assert messenger_api.sent == [(PSID, "Dạ em gửi báo giá thép hộp ạ.")]
    assert provider_answers["messenger_token"] not in repr(fb)


async def test_a_long_reply_goes_as_several_messages_the_api_accepts(
        messenger_api: Any, provider_answers: dict[str, Any]) -> None:
    fb = sender(messenger_api, provider_answers["messenger_token"])
    text = "Dạ bên em xin gửi bảng giá chi tiết từng mã hàng. " * 100  # ≈ 5000 characters
    for part in fb.parts(THREAD, text):
        await fb.send(THREAD, part)
    got = messenger_api.texts(PSID)
    assert len(got) == 3 and all(len(t) <= 2000 for t in got)
    assert " ".join(got).split() == text.split()
    with pytest.raises(SendRefused, match=r"100.*2000"):  # the stand-in checks the limit too
        await fb.send(THREAD, "x" * 2001)


@pytest.mark.parametrize(("code", "subcode", "message", "error"), [
    (613, None, "(#613) Calls to this API have exceeded the rate limit.", SendUnavailable),
    (4, None, "(#4) Application request limit reached", SendUnavailable),
    (1200, None, "Temporary send message failure. Please try again later.", SendUnavailable),
    (551, 1545041, "This person isn't available right now.", SendRefused),
    (10, 2018278, "(#10) This message is sent outside of allowed window.", SendRefused),
    (200, 2018028, "(#200) Cannot message users who are not admins, developers or testers "
                   "of the app until pages_messaging permission is reviewed", SendRefused),
])
async def test_provider_errors_map_to_retry_or_refusal(
        messenger_api: Any, provider_answers: dict[str, Any], code: int, subcode: int | None,
        message: str, error: type[Exception]) -> None:
    fb = sender(messenger_api, provider_answers["messenger_token"])
    messenger_api.script.append(provider_answers["graph_error"](code, message, subcode=subcode))
    with pytest.raises(error) as caught:
        await fb.send(THREAD, "Dạ vâng ạ.")
    assert f"Messenger error {code}" in str(caught.value) and message in str(caught.value)
    assert messenger_api.sent == []
    await fb.send(THREAD, "Dạ vâng ạ.")  # the next answer is a success again
    assert messenger_api.sent == [(PSID, "Dạ vâng ạ.")]


async def test_a_bad_token_or_another_page_is_refused_without_leaking_the_token(
        messenger_api: Any, provider_answers: dict[str, Any]) -> None:
    with pytest.raises(SendRefused, match="190") as caught:
        await sender(messenger_api, "EAAG-wrong-token").send(THREAD, "Dạ.")
    assert "EAAG-wrong-token" not in str(caught.value)
    other_page = sender(messenger_api, provider_answers["messenger_token"])
    with pytest.raises(SendRefused, match="100/33"):
        await other_page.send(f"999888777:{PSID}", "Dạ.")
    with pytest.raises(SendRefused, match="page:PSID"):
        other_page.parts("not-a-thread", "Dạ.")


async def test_outages_are_transient(messenger_api: Any,
                                     provider_answers: dict[str, Any]) -> None:
    token = provider_answers["messenger_token"]
    messenger_api.script.append((500, {"error": {"message": "An unexpected error has occurred. "
                                                 "Please retry your request later.",
                                                 "type": "OAuthException", "code": 2,
                                                 "is_transient": True}}))
    with pytest.raises(SendUnavailable, match="error 2"):
        await sender(messenger_api, token).send(THREAD, "Dạ.")
    gone = MessengerSender(token, "http://127.0.0.1:9/v21.0", timeout=5.0)  # nothing listens
    with pytest.raises(SendUnavailable) as caught:
        await gone.send(THREAD, "Dạ.")
    assert token not in str(caught.value)


async def test_a_page_with_human_agent_tags_late_replies_and_others_are_told_before_sending(
        messenger_api: Any, provider_answers: dict[str, Any]) -> None:
    token = provider_answers["messenger_token"]
    plain = sender(messenger_api, token)
    agent = MessengerSender(token, f"{messenger_api.url}/v21.0", timeout=5.0, human_agent=True)
    assert plain.window.tagged(timedelta(hours=23)) is False
    with pytest.raises(SendRefused, match="must write first") as closed:
        plain.window.tagged(timedelta(hours=25))
    assert closed.value.code == WINDOW_CLOSED
    assert agent.window.tagged(timedelta(hours=23)) is False
    assert agent.window.tagged(timedelta(days=6)) is True
    with pytest.raises(SendRefused, match="7 days"):
        agent.window.tagged(timedelta(days=8))
    with pytest.raises(SendRefused, match="has not written"):
        agent.window.tagged(None)
    await agent.send(THREAD, "Dạ em trả lời ạ.", tagged=True)
    await plain.send(THREAD, "Dạ.")
    assert messenger_api.tags == ["HUMAN_AGENT", None]


@pytest.mark.parametrize(("code", "subcode", "ours"), [
    (10, 2018278, "window_closed"), (551, 1545041, "recipient_unavailable"),
    (190, None, "token_invalid"), (200, 2018028, "not_allowed"), (368, None, "not_allowed"),
    (12345, None, "refused")])
async def test_refusals_carry_our_code(messenger_api: Any, provider_answers: dict[str, Any],
                                       code: int, subcode: int | None, ours: str) -> None:
    messenger_api.script.append(provider_answers["graph_error"](code, "no", subcode=subcode))
    with pytest.raises(SendRefused) as refused:
        await sender(messenger_api, provider_answers["messenger_token"]).send(THREAD, "Dạ.")
    assert refused.value.code == ours and f"error {code}" in str(refused.value)
