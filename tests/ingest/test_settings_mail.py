"""The domain of our outgoing Message-IDs and the threading window, as settings."""

from __future__ import annotations

import pytest

from ingest.settings import Settings


@pytest.mark.parametrize(("values", "domain", "domains"), [
    ({}, "cskh.invalid", ["cskh.invalid"]),
    ({"own_addresses": ["CSKH@CongTy.vn", "@ketoan.vn"]}, "congty.vn", ["congty.vn", "ketoan.vn"]),
    ({"own_addresses": ["@congty.vn"], "mail_domain": "Mail.CongTy.vn"}, "mail.congty.vn",
     ["mail.congty.vn", "congty.vn"]),
])
def test_message_id_domain(values: dict[str, object], domain: str, domains: list[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSKH_MAIL_DOMAIN", raising=False)
    monkeypatch.delenv("CSKH_OWN_ADDRESSES", raising=False)
    settings = Settings(**values)  # type: ignore[arg-type]
    assert settings.message_id_domain == domain
    assert settings.message_id_domains == domains


def test_thread_window_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_THREAD_WINDOW_HOURS", "24")
    monkeypatch.setenv("CSKH_MAIL_DOMAIN", "congty.vn")
    settings = Settings()
    assert (settings.thread_window_hours, settings.message_id_domain) == (24.0, "congty.vn")
    assert Settings(thread_window_hours=0).thread_window_hours == 0


@pytest.mark.parametrize(("values", "sender"), [
    ({"own_addresses": ["@congty.vn", "cskh@congty.vn"]}, "cskh@congty.vn"),
    ({"own_addresses": ["cskh@congty.vn"], "mail_from": "CSKH <hotro@congty.vn>"},
     "CSKH <hotro@congty.vn>"),
])
def test_replies_come_from_the_configured_or_first_own_address(
        values: dict[str, object], sender: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CSKH_MAIL_FROM", "CSKH_OWN_ADDRESSES", "CSKH_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert Settings(smtp_host="smtp.congty.vn", **values).reply_from == sender  # type: ignore[arg-type]


def test_an_smtp_server_without_a_from_address_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CSKH_MAIL_FROM", "CSKH_OWN_ADDRESSES"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="CSKH_MAIL_FROM"):
        Settings(smtp_host="smtp.congty.vn", own_addresses=["@congty.vn"])
