"""Click-to-call through the cloud PBX (``CSKH_HOTLINE_CALL_URL``): the service asks the PBX
to ring the officer and then the customer.

Like the PBX's events (``connectors.hotline``), the request is one JSON shape the PBX is
configured (or bridged) to take, signed with the shared ``CSKH_HOTLINE_SECRET``:

``POST {url}`` with ``X-CSKH-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` and

.. code-block:: json

    {"action": "call", "request_id": "…", "to": "+84912345678", "agent": "Lan",
     "agent_email": "lan@congty.vn", "reference": "CSKH-000042"}

The PBX answers 2xx with ``{"call_id": "…"}`` once the call is placed; its hang-up event
later reaches ``/webhooks/hotline`` as an outbound call. 429 and 5xx (or no answer) are
``SendUnavailable``; any other status is ``SendRefused`` with the PBX's ``error``/``message``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from connectors.hotline import SIGNATURE_HEADER
from connectors.sending import SendRefused, SendUnavailable, json_answer, scrub
from connectors.signing import hmac_sha256_hex


@dataclass(frozen=True, slots=True)
class ClickToCall:
    """Places calls through the PBX at ``url``; the secret never appears in ``repr``."""

    url: str
    secret: str = field(repr=False)
    timeout: float = 15.0

    def body(self, to: str, agent: str, agent_email: str | None, reference: str) -> bytes:
        """The request body (``request_id`` makes each request distinct)."""
        return json.dumps({"action": "call", "request_id": str(uuid.uuid4()), "to": to,
                           "agent": agent, "agent_email": agent_email,
                           "reference": reference}, ensure_ascii=False).encode()

    async def __call__(self, to: str, agent: str, agent_email: str | None,
                       reference: str) -> str:
        """Ask the PBX to connect ``agent`` with ``to``; the PBX's call id."""
        raw = self.body(to, agent, agent_email, reference)
        signature = "sha256=" + hmac_sha256_hex(self.secret, raw)
        try:  # the bytes signed are the bytes sent
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout)) as http, \
                    http.post(self.url, data=raw, headers={
                        SIGNATURE_HEADER: signature,
                        "Content-Type": "application/json"}) as resp:
                status, answer = resp.status, await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            said = scrub(f"{type(exc).__name__}: {exc}", self.secret)
            raise SendUnavailable(f"PBX {urlsplit(self.url).netloc}: {said}") from exc
        data = json_answer(answer)
        call_id = data.get("call_id")
        if 200 <= status < 300 and isinstance(call_id, (str, int)) and str(call_id):
            return str(call_id)
        said = (f"PBX HTTP {status}: {data.get('error') or ''} {data.get('message') or ''}"
                .strip() if data else f"PBX HTTP {status}")
        if status >= 500 or status == 429:
            raise SendUnavailable(said)
        raise SendRefused(said)
