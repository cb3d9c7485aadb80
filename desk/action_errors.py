"""Why a page action was refused, in the officer's language: the staff API's error codes
(``router.actions.ActionError.code``) as catalogue messages.

The API answers its codes and English reasons as they are; a page never shows either: a code
this map does not know is shown as the generic message.
"""

from __future__ import annotations

from desk.i18n import N_, gettext
from router.actions import ActionError

GENERIC = N_("The action could not be done. Reload the page and try again.")
# code → message id; an entry keyed (action, code) wins over the code's own
MESSAGES: dict[str | tuple[str, str], str] = {
    ("retry", "not_failed"): N_("This reply is not failed any more (already sent, or sent "
                                "again just now)."),
    "window_closed": N_("The channel's reply window is over: the reply was not sent. Call or "
                        "e-mail the customer, or wait for them to write again."),
    "not_allowed": N_("Only the ticket's assignee or a lead of its queue may do this."),
    # click-to-call (desk.api_calls)
    "not_a_call": N_("Only hotline tickets are called back."),
    "no_number": N_("The caller's number was withheld: there is no number to call back."),
    "click_to_call_off": N_("No cloud PBX is set up for calling out: dial the number "
                            "yourself."),
    "pbx_unavailable": N_("The PBX did not answer or is busy: the call was not placed. Try "
                          "again in a few minutes, or dial the number yourself."),
    "pbx_refused": N_("The PBX refused the call: it was not placed. Dial the number "
                      "yourself."),
}


def action_error(action: str, error: ActionError, locale: str = "vi") -> str:
    """What the page says when ``action`` was refused with ``error``."""
    message = MESSAGES.get((action, error.code)) or MESSAGES.get(error.code)
    return error.reason if message is None else gettext(message, locale)
