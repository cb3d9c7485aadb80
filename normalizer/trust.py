"""How far a message's sender is who it says: the one place the threading and identity rules
ask.

* ``self_asserted``: a web form. Name, company, address and subject are what someone typed.
* ``failed``: a mail whose ``From`` our receiving server could not confirm (DKIM/DMARC failed,
  were not evaluated, or its ``Authentication-Results`` is missing while
  ``CSKH_IMAP_AUTHSERV_ID`` is set: ``connectors.email.auth``).
* ``verified``: a mail with DMARC pass or a DKIM signature aligned with its ``From``.
* ``unchecked``: a mail read without an authserv-id: nothing can be said either way.
* ``provider``: the other channels, whose sender id the provider signs (a PSID, a Zalo user id,
  a marketplace buyer, a caller number from the PBX).
"""

from __future__ import annotations

from typing import Literal

from connectors.envelope import InboundEnvelope

Trust = Literal["self_asserted", "failed", "unchecked", "verified", "provider"]
SELF_ASSERTED_CHANNELS = frozenset({"webform"})
MAIL_CHANNELS = frozenset({"email"})


def sender_trust(envelope: InboundEnvelope) -> Trust:
    """What ``envelope``'s sender identity rests on (see the module docstring)."""
    if envelope.channel in SELF_ASSERTED_CHANNELS:
        return "self_asserted"
    if envelope.channel not in MAIL_CHANNELS:
        return "provider"
    auth = envelope.raw.get("auth") if isinstance(envelope.raw, dict) else None
    verdict = auth.get("verdict") if isinstance(auth, dict) else None
    if verdict == "pass":
        return "verified"
    if verdict == "fail":
        return "failed"
    return "unchecked"


def may_write_identity(trust: Trust) -> bool:
    """Whether the sender's details may be written onto a contact we already know (a missing
    name or phone filled in, a customer given): never from what was typed or forged."""
    return trust not in ("self_asserted", "failed")
