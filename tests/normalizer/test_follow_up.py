"""Follow-up tokens: minted for one ticket, checked in constant time, never raising."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from normalizer import follow_up

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
SECRET = "s3cret"


def test_a_token_proves_its_ticket_until_it_expires() -> None:
    token = follow_up.mint(SECRET, 42, NOW, timedelta(days=1))
    assert follow_up.ticket_of(SECRET, token, NOW) == 42
    assert follow_up.ticket_of(SECRET, token, NOW + timedelta(days=1, seconds=1)) is None
    assert follow_up.ticket_of("other", token, NOW) is None
    assert follow_up.ticket_of(None, token, NOW) is None


@pytest.mark.parametrize("token", [None, 42, "", "42", "42.1.x", "9" * 200,
                                   "1.999999999999." + "A" * 43, ["42"], "４２.1." + "A" * 43])
def test_anything_else_proves_nothing_and_never_raises(token: object) -> None:
    assert follow_up.ticket_of(SECRET, token, NOW) is None


def test_the_link_carries_the_token_beside_the_forms_own_parameters() -> None:
    token = follow_up.mint(SECRET, 7, NOW)
    link = follow_up.follow_up_link("https://congty.vn/lien-he?lang=vi", token)
    query = parse_qs(urlsplit(link).query)
    assert query == {"lang": ["vi"], "follow_up": [token]}
    with pytest.raises(ValueError):
        follow_up.mint("", 7, NOW)
