"""Email channel: raw RFC 5322 mail (pulled over IMAP) → inbound envelopes.

``parse`` reads one message defensively, ``envelope`` maps it to the shared contract and
``imap`` fetches new mail from a mailbox folder by UID.
"""

from __future__ import annotations

CHANNEL = "email"
