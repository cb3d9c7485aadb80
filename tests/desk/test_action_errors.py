"""Every code a ticket action can be refused with has its words in the catalogue: a page
never shows the API's code or its English reason."""

from __future__ import annotations

import re
from pathlib import Path

from desk.action_errors import GENERIC, MESSAGES, action_error
from desk.api_calls import PBX_REFUSED, PBX_UNAVAILABLE
from desk.i18n import translations
from router.actions import ActionError

ROOT = Path(__file__).resolve().parents[2]
# ActionError(status, "code", …) as raised in router/ and desk/ (the API's own JSON-body codes
# and the 404, which the page answers as its own 404, aside)
_RAISED = re.compile(r"ActionError\(\s*\d{3},\s*\"([a-z_]+)\"")
API_ONLY = {"invalid_json", "not_found"}


def raised_codes() -> set[str]:
    found: set[str] = set()
    for package in ("router", "desk"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(_RAISED.findall(path.read_text(encoding="utf-8")))
    return (found | {PBX_UNAVAILABLE, PBX_REFUSED}) - API_ONLY  # those two by name


def test_every_refusal_has_vietnamese_words() -> None:
    codes = raised_codes()
    assert {"already_assigned", "ticket_closed", "window_closed", "pbx_refused"} <= codes
    missing = sorted(c for c in codes if c not in MESSAGES)
    assert missing == [], f"add these codes to desk/action_errors.py MESSAGES: {missing}"
    vi = translations("vi")
    for message in MESSAGES.values():
        assert vi.gettext(message) != message, message


def test_a_refusal_is_said_in_vietnamese_never_as_the_api_gives_it() -> None:
    taken = ActionError(409, "already_assigned", "the ticket is assigned to someone else")
    assert action_error("claim", taken) == "Một đồng nghiệp vừa nhận phiếu này."
    unknown = ActionError(409, "brand_new_code", "something English")
    said = action_error("reply", unknown)
    assert said == translations("vi").gettext(GENERIC)
    assert "brand_new_code" not in said and "English" not in said
    # an entry for one action wins over the code's own
    stale = ActionError(409, "not_failed", "message 3 is sent")
    assert action_error("retry", stale).startswith("Tin trả lời này không còn ở trạng thái lỗi")
