"""``CSKH_FORM_ORIGINS`` and ``CSKH_FORM_RATE_PER_MINUTE``, as an operator writes them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.webform import WebformConnector
from ingest.registry import webhook_connectors
from ingest.settings import Settings
from ingest.web.form_edge import link_key


def test_origins_are_comma_separated_and_canonical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_FORM_ORIGINS", " https://WWW.ThepViet.vn/ ,http://localhost:8081,")
    monkeypatch.setenv("CSKH_FORM_RATE_PER_MINUTE", "0")
    settings = Settings()
    assert settings.form_origins == ["https://www.thepviet.vn", "http://localhost:8081"]
    assert settings.form_rate_per_minute == 0
    (webform, *_rest) = webhook_connectors(settings)
    assert isinstance(webform, WebformConnector)
    assert webform.allowed_origins == {"https://www.thepviet.vn", "http://localhost:8081"}
    assert Settings(form_origins=["https://congty.vn"]).form_origins == ["https://congty.vn"]


@pytest.mark.parametrize("origin", ["https://thepviet.vn/lien-he", "thepviet.vn",
                                    "ftp://thepviet.vn", "https://a:b@thepviet.vn",
                                    "https://thepviet.vn?x=1", "*"])
def test_an_origin_with_more_or_less_than_an_origin_is_refused(
        origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_FORM_ORIGINS", origin)
    with pytest.raises(ValidationError, match="CSKH_FORM_ORIGINS"):
        Settings()


def test_thank_you_links_share_a_key_only_when_a_secret_is_set() -> None:
    assert link_key(Settings()) != link_key(Settings())  # each process its own
    one = Settings(webform_secret="s3cret")
    assert link_key(one) == link_key(Settings(webform_secret="s3cret"))
    assert b"s3cret" not in link_key(one)
