"""Why a page action was refused, in the officer's language: the staff API's error codes
(``router.actions.ActionError.code``) as catalogue messages.

The API answers its codes and English reasons as they are; a page never shows either: a code
this map does not know is shown as the generic message. (Answers that are not the ticket's
part — an expired form's 403, a ticket gone from view, the service down — are put in words by
``static/js/ticket.js`` from ``PAGE_MESSAGES``.)
"""

from __future__ import annotations

from desk.i18n import N_, gettext
from router.actions import ActionError

GENERIC = N_("The action could not be done. Reload the page and try again.")
# code → message id; an entry keyed (action, code) wins over the code's own
MESSAGES: dict[str | tuple[str, str], str] = {
    ("retry", "not_failed"): N_("This reply is not failed any more (already sent, or sent "
                                "again just now)."),
    "not_allowed": N_("Only the ticket's assignee or a lead of its queue may do this."),
    "ticket_closed": N_("This ticket is closed: reopen it first if there is more to do."),
    "already_assigned": N_("A colleague has just taken this ticket."),
    "not_your_queue": N_("This ticket is not in one of your queues."),
    "at_capacity": N_("You already hold as many tickets as your capacity allows: resolve one "
                      "or hand one back first."),
    "invalid_category": N_("Choose a category and a priority from the lists."),
    "invalid_priority": N_("Choose a category and a priority from the lists."),
    "nothing_to_change": N_("Choose a category or a priority to change."),
    "call_back": N_("A hotline ticket is answered by calling back: record the callback "
                    "instead."),
    "empty_reply": N_("The reply is empty."),
    "empty_note": N_("The note is empty."),
    "note_too_long": N_("The text is too long."),
    "invalid_field": N_("The form was not filled in as expected. Reload the page and try "
                        "again."),
    "invalid_text": N_("The text holds characters that cannot be stored."),
    "invalid_idempotency_key": N_("The form was not filled in as expected. Reload the page "
                                  "and try again."),
    "idempotency_key_reused": N_("This form was already sent with another text: reload the "
                                 "page and write the reply again."),
    "callback_needed": N_("A missed call: record a callback that reached the customer before "
                          "resolving."),
    "not_closed": N_("This ticket is open already."),
    "not_waiting": N_("This ticket is not waiting on the customer any more."),
    "unknown_staff": N_("There is no such colleague."),
    "not_in_queue": N_("That colleague does not serve this ticket's queue."),
    "same_ticket": N_("A ticket cannot be merged into itself."),
    "no_survey_by_hand": N_("This ticket has no survey to hand over (it was sent on its "
                            "channel, or answered)."),
    "target_closed": N_("The ticket to merge into is closed or merged itself: reopen it "
                        "first, or merge the other way."),
    "invalid_status": N_("Choose online, away or off."),
    "invalid_outcome": N_("Choose the outcome of the call."),
    "not_a_reply": N_("Only a failed reply is sent again (not a survey ask, not a callback)."),
    "not_failed": N_("This reply is not failed any more (already sent, or sent again just "
                     "now)."),
    "window_closed": N_("The channel's reply window is over: the reply was not sent. Call or "
                        "e-mail the customer, or wait for them to write again."),
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
# what ticket.js says of an answer that is not the ticket's part, by its kind
PAGE_MESSAGES = {
    "expired": N_("The form has expired or did not come from this site. Reload the page and "
                  "try again."),
    "gone": N_("You cannot see this ticket any more: a colleague may have just taken or moved "
               "it. Go back to the inbox."),
    "failed": N_("The service could not finish this action. Reload the page to see what was "
                 "done, then try again."),
}


def action_error(action: str, error: ActionError, locale: str = "vi") -> str:
    """What the page says when ``action`` was refused with ``error`` (never the API's code
    or English reason)."""
    message = MESSAGES.get((action, error.code)) or MESSAGES.get(error.code) or GENERIC
    return gettext(message, locale)
