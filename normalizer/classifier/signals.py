"""Evidence beyond the words: what the normalizer knows about a message, and the amounts,
dates and hours named in it.

A :class:`MessageContext` says who wrote and how: the customer's tier (a key account's
request is never left waiting), how many times the customer has already written on the same
ticket without an answer (a repeated contact), and whether the message is a missed call
(a callback the customer is waiting for). :func:`signals` turns a context and the entities
of the text (:func:`normalizer.entities.extract_entities`) into binary features the model
weighs like the rule markers: the model learns how much each one counts from labelled
examples that carry a context (see ``normalizer/data/README.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from normalizer.entities import Entities

__all__ = ["NO_CONTEXT", "SIGNALS", "TIERS", "MessageContext", "signals"]

TIERS: Final = ("key", "standard", "small")
"""Customer tiers, as the customer registry spells them."""

SIGNALS: Final = (
    "key_account", "small_account", "repeat", "repeat_many", "missed_call",
    "amount", "amount_10m", "amount_100m", "date", "hour",
)
"""Signal names, in feature order (the order is part of the model: it only grows at the end)."""

_INDEX: Final = {name: i for i, name in enumerate(SIGNALS)}
# An hour named as a time of day: "17h", "8h30", "15 giờ", "9:00" (classifier_text form:
# lowercase, no diacritics).
_HOUR: Final = re.compile(r"(?<![\w.,])(?:[01]?\d|2[0-3])(?: ?h(?:[0-5]\d)?|:[0-5]\d| gio)(?!\w)")
BIG: Final = 10_000_000
"""An amount from which money is at stake (VND)."""
VERY_BIG: Final = 100_000_000


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What the normalizer knows about a message besides its text.

    ``tier``: the customer account's tier (one of :data:`TIERS`), ``None`` when the sender
    is not tied to an account. ``repeat``: how many earlier messages of the same customer
    on the same ticket are still unanswered (0 for the first contact). ``missed_call``: the
    message is the callback ticket of a missed inbound call.
    """

    tier: str | None = None
    repeat: int = 0
    missed_call: bool = False

    def __post_init__(self) -> None:
        if self.tier is not None and self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r}")
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 0:
            raise ValueError(f"repeat must be a non-negative integer, got {self.repeat!r}")
        if not isinstance(self.missed_call, bool):
            raise ValueError(f"missed_call must be true or false, got {self.missed_call!r}")

    def to_json(self) -> dict[str, object]:
        """Only the fields that differ from no context, as JSON-lines files carry them."""
        out: dict[str, object] = {}
        if self.tier is not None:
            out["tier"] = self.tier
        if self.repeat:
            out["repeat"] = self.repeat
        if self.missed_call:
            out["missed_call"] = True
        return out


NO_CONTEXT: Final = MessageContext()


def signals(form: str, entities: Entities, context: MessageContext = NO_CONTEXT) -> list[int]:
    """Indexes (into :data:`SIGNALS`) of the signals that fire for a message whose
    ``classifier_text`` form is `form`, whose entities are `entities`, in `context`."""
    fired: list[str] = []
    if context.tier == "key":
        fired.append("key_account")
    elif context.tier == "small":
        fired.append("small_account")
    if context.repeat >= 1:
        fired.append("repeat")
    if context.repeat >= 2:
        fired.append("repeat_many")
    if context.missed_call:
        fired.append("missed_call")
    if entities.amounts:
        fired.append("amount")
        largest = max(entities.amounts)
        if largest >= BIG:
            fired.append("amount_10m")
        if largest >= VERY_BIG:
            fired.append("amount_100m")
    if entities.dates:
        fired.append("date")
    if _HOUR.search(form):
        fired.append("hour")
    return [_INDEX[name] for name in fired]
