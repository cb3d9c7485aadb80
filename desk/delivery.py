"""What became of a reply, as the desk shows it: the delivery state and, for a failure, the
reason in Vietnamese beside the provider's own words.

The codes are ``connectors.sending``'s; a code this map does not know shows the generic one.
"""

from __future__ import annotations

from typing import Any

from desk.i18n import N_, gettext
from storage.models import Message

REASONS = {
    "refused": N_("The channel refused the reply."),
    "window_closed": N_("The customer must write first: the channel's reply window is over."),
    "recipient_unavailable": N_("The customer cannot be reached on this channel (blocked, "
                                "left or not a follower)."),
    "token_invalid": N_("The channel's access token is invalid or has expired."),
    "not_allowed": N_("Our account on the channel is not allowed to send this."),
    "no_address": N_("The ticket has no address on its channel."),
    "invalid": N_("The reply cannot be sent as it is (empty or malformed)."),
    "no_sender": N_("Replies on this channel are not sent by the service: answer by hand."),
    # hotline callbacks that did not reach the customer (router.callbacks)
    "no_answer": N_("The callback was not answered."),
    "busy": N_("The customer's line was busy."),
}


def delivery_json(message: Message, locale: str = "vi") -> dict[str, Any] | None:
    """The API form of an outbound message's delivery; ``None`` when it is not tracked."""
    if message.direction != "outbound" or message.delivery_status is None:
        return None
    failed = message.delivery_status == "failed"
    code = message.delivery_code or "refused"
    return {
        "status": message.delivery_status,
        "provider_ids": (message.delivery_ref or "").split(),
        "code": code if failed else None,
        "reason": message.delivery_reason if failed else None,
        "reason_vi": gettext(REASONS.get(code, REASONS["refused"]), locale) if failed else None,
        "attempts": message.delivery_attempts,
        "updated_at": None if message.delivery_updated_at is None
        else message.delivery_updated_at.isoformat(),
    }
