"""An IMAP mailbox folder, read by UID with imapclient (blocking: callers run it in a thread).

``ImapSession`` only talks IMAP: select a folder, list UIDs after a cursor, read sizes, whole
messages (``BODY.PEEK[]``, so nothing is marked seen) or headers only, wait in IDLE. It moves
or flags mail only when the mailbox asks for it (``move_to``, ``flag``) and only when the
puller says a message is safely on the bus (``settle``); only then is the folder selected
read-write. The bus and the cursor file belong to the puller (``ingest.imap.ImapPuller``);
the cursor's shape is here, beside what it counts.

UIDs only have meaning together with the folder's UIDVALIDITY (RFC 3501 §2.3.1.1): when it
changes, every UID may have been reassigned and the folder is read again from the start.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
MAX_FETCH_BYTES = 32 * 1024 * 1024
MAX_PARKED = 100


IDLE_RENEW = 25 * 60.0  # re-issue IDLE well before servers drop it (RFC 2177: 29 minutes)
IDLE_TICK = 0.5  # how often a waiting IDLE looks at its stop flag
_SYSTEM_FLAGS = {"\\seen": "SEEN", "\\answered": "ANSWERED", "\\flagged": "FLAGGED",
                 "\\deleted": "DELETED", "\\draft": "DRAFT"}


class ImapUnavailable(Exception):
    """The server could not be reached, refused us, or broke off; retry later.

    ``tls`` is true when the server's certificate could not be verified (a wrong or missing
    CA): retrying will not help until the configuration changes.
    """

    def __init__(self, message: str, *, tls: bool = False) -> None:
        super().__init__(message)
        self.tls = tls


@dataclass(frozen=True, slots=True)
class ImapMailbox:
    """Where to read mail: one folder of one account. The password never appears in ``repr``."""

    host: str
    user: str
    password: str = field(repr=False)
    port: int | None = None
    folder: str = "INBOX"
    tls: bool = True
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    timeout: float = DEFAULT_TIMEOUT
    label: str | None = None
    queue: str | None = None
    move_to: str | None = None
    flag: str | None = None

    @property
    def name(self) -> str:
        """The mailbox as logs, cursors and the lease name it: its label, else ``user@host``."""
        return self.label or f"{self.user}@{self.host}"

    @property
    def settles(self) -> bool:
        """Whether ingested mail is moved or flagged (the folder is then opened read-write)."""
        return bool(self.move_to or self.flag)


@dataclass(frozen=True, slots=True)
class ImapCursor:
    """How far a folder has been read: the last UID appended under one UIDVALIDITY.

    ``parked`` remembers the latest mail too large to fetch (uid, size, message id), which went
    to the dead-letter topic with its headers only.
    """

    mailbox: str
    folder: str
    uidvalidity: int
    last_uid: int
    parked: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The cursor as a JSON object, for the puller to persist."""
        return {"mailbox": self.mailbox, "folder": self.folder,
                "uidvalidity": self.uidvalidity, "last_uid": self.last_uid,
                "parked": list(self.parked)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImapCursor:
        """The cursor ``to_json`` wrote; ``KeyError``/``ValueError``/``TypeError`` otherwise."""
        return cls(str(data["mailbox"]), str(data["folder"]), int(data["uidvalidity"]),
                   int(data["last_uid"]), tuple(dict(p) for p in data.get("parked", ())))

    def advanced(self, last_uid: int, parked: Iterable[dict[str, Any]] = ()) -> ImapCursor:
        """This cursor moved to ``last_uid``, remembering newly ``parked`` mail."""
        kept = (*self.parked, *parked)[-MAX_PARKED:]
        return ImapCursor(self.mailbox, self.folder, self.uidvalidity, last_uid, kept)


def _chunks(uids: list[int], sizes: dict[int, int], limit: int) -> Iterable[list[int]]:
    chunk: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunk and total + size > limit:
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += size
    if chunk:
        yield chunk


def _take_news(client: Any) -> bool:
    """Whether new mail was announced (``EXISTS``, ``RECENT``) in the answer to an earlier
    command, forgetting it.

    imapclient returns only what each command asked for; imaplib keeps the other untagged
    responses in ``untagged_responses``. Mail that arrives while a SEARCH or MOVE runs is
    announced in that command's answer, so the NOOP before IDLE reports nothing new and
    IDLE would wait for the poll interval.
    """
    pending = client._imap.untagged_responses
    found = False
    for name in ("EXISTS", "RECENT"):
        found = bool(pending.pop(name, None)) or found
    return found


class ImapSession:
    """One connection to ``mailbox``, opened on first use; every call may raise
    ``ImapUnavailable``, after which the session is closed and reopens on next use."""

    def __init__(self, mailbox: ImapMailbox,
                 client_factory: Callable[..., Any] = IMAPClient) -> None:
        self.mailbox = mailbox
        self._factory = client_factory
        self._client: Any | None = None

    def _connect(self) -> Any:
        box = self.mailbox
        client = self._factory(box.host, port=box.port or (993 if box.tls else 143),
                               ssl=box.tls, ssl_context=box.ssl_context, timeout=box.timeout,
                               use_uid=True)
        # INTERNALDATE as the server says it, with its offset (imapclient's default turns it
        # into a naive local time).
        client.normalise_times = False
        try:
            client.login(box.user, box.password)
        except BaseException:
            self._shutdown(client)
            raise
        return client

    @staticmethod
    def _shutdown(client: Any) -> None:
        try:
            client.logout()
        except (IMAPClientError, imaplib.IMAP4.error, OSError):
            with contextlib.suppress(IMAPClientError, imaplib.IMAP4.error, OSError):
                client.shutdown()

    def _call(self, fn: Callable[[Any], T]) -> T:
        try:
            if self._client is None:
                self._client = self._connect()
            return fn(self._client)
        except (TimeoutError, IMAPClientError, imaplib.IMAP4.error, OSError) as exc:
            self.close()
            box = self.mailbox
            raise ImapUnavailable(f"{box.name} {box.folder}: {type(exc).__name__}: {exc}",
                                  tls=isinstance(exc, ssl.SSLCertVerificationError)) from exc

    def close(self) -> None:
        """Log out (or drop the connection); the next call reconnects."""
        client, self._client = self._client, None
        if client is not None:
            self._shutdown(client)

    def select(self) -> int:
        """Select the folder (read-only unless mail is to be moved or flagged); return its
        UIDVALIDITY."""
        box = self.mailbox

        def run(client: Any) -> Any:
            info = client.select_folder(box.folder, readonly=not box.settles)
            _take_news(client)  # the counts SELECT reports are not news
            return info

        info = self._call(run)
        return int(info[b"UIDVALIDITY"])

    def capable(self, capability: str) -> bool:
        """Whether the server announces ``capability`` (e.g. ``IDLE``, ``MOVE``)."""
        return bool(self._call(lambda c: c.has_capability(capability)))

    def unsettled(self, last_uid: int, skip: Iterable[int] = ()) -> list[int]:
        """UIDs up to ``last_uid`` (already on the bus) not yet moved or flagged, but ``skip``.

        Empty when the mailbox neither moves nor flags. A crash between the cursor and the
        move leaves such mail behind; the next pass settles it without fetching it again.
        """
        box = self.mailbox
        if not box.settles or last_uid < 1:
            return []
        criteria: list[Any] = ["UID", f"1:{last_uid}"]
        if not box.move_to and box.flag:
            flag = box.flag
            system = _SYSTEM_FLAGS.get(flag.lower())
            criteria += ["NOT", system] if system else ["UNKEYWORD", flag]
        found = self._call(lambda c: c.search(criteria))
        skipped = set(skip)
        return sorted(int(u) for u in found if 0 < int(u) <= last_uid and int(u) not in skipped)

    def settle(self, uids: list[int]) -> None:
        """Flag, then move ``uids`` as the mailbox says: MOVE where the server has it (RFC
        6851), else COPY + \\Deleted + UID EXPUNGE (RFC 4315; plain EXPUNGE without UIDPLUS,
        which also removes other mail already marked \\Deleted)."""
        box = self.mailbox
        if not uids or not box.settles:
            return
        target = box.move_to

        def run(client: Any) -> None:
            if box.flag:
                client.add_flags(uids, [box.flag], silent=True)
            if target is None:
                return
            if not client.folder_exists(target):
                with contextlib.suppress(IMAPClientError):  # a racing puller made it
                    client.create_folder(target)
            if client.has_capability("MOVE"):
                client.move(uids, target)
                return
            client.copy(uids, target)
            client.add_flags(uids, [b"\\Deleted"], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

        self._call(run)

    def idle_wait(self, timeout: float, halt: threading.Event) -> bool:
        """Wait in IDLE on the selected folder until new mail is announced (``EXISTS`` or
        ``RECENT``: return true), ``timeout`` seconds pass or ``halt`` is set (false).

        IDLE is re-issued every ``IDLE_RENEW`` seconds; ``halt`` is looked at every
        ``IDLE_TICK``, so a shutdown never waits for a long IDLE.
        """
        def announced(responses: Iterable[Any]) -> bool:
            return any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT")
                       for r in responses)

        def run(client: Any) -> bool:
            if _take_news(client):  # announced with the answer to an earlier command
                return True
            end = time.monotonic() + timeout
            while not halt.is_set():
                renew = min(end, time.monotonic() + IDLE_RENEW)
                # Mail that arrived since our last command is announced by NOOP, not by IDLE
                # (Dovecot reports it only when the IDLE ends): ask first.
                if announced(client.noop()[1]):
                    return True
                client.idle()
                news = False
                try:
                    while not halt.is_set() and not news and time.monotonic() < renew:
                        news = announced(client.idle_check(timeout=IDLE_TICK))
                finally:
                    _text, during = client.idle_done()
                if news or announced(during):
                    return True
                if time.monotonic() >= end:
                    return False
            return False

        return self._call(run)

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid`` in the selected folder, ascending."""
        # "n:*" always matches the highest UID even when it is below n (RFC 3501 §6.4.8).
        found = self._call(lambda c: c.search(["UID", f"{last_uid + 1}:*"]))
        return sorted(int(u) for u in found if int(u) > last_uid)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """``RFC822.SIZE`` of each UID still present."""
        if not uids:
            return {}
        data = self._call(lambda c: c.fetch(uids, ["RFC822.SIZE"]))
        return {int(uid): int(item[b"RFC822.SIZE"]) for uid, item in data.items()
                if b"RFC822.SIZE" in item}

    def messages(self, uids: list[int], sizes: dict[int, int]) -> dict[int, bytes]:
        """The whole message of each UID (``BODY.PEEK[]``: the \\Seen flag is left alone)."""
        return self.mail(uids, sizes)[0]

    def mail(self, uids: list[int], sizes: dict[int, int]
             ) -> tuple[dict[int, bytes], dict[int, datetime]]:
        """The whole message of each UID and when the server received it (``INTERNALDATE``,
        RFC 3501 §2.3.3, tz-aware): the date of a mail that has no ``Date`` of its own."""
        out: dict[int, bytes] = {}
        arrived: dict[int, datetime] = {}
        for chunk in _chunks(uids, sizes, MAX_FETCH_BYTES):
            data = self._fetch(chunk, "BODY.PEEK[]", "INTERNALDATE")
            out.update({int(uid): bytes(item[b"BODY[]"]) for uid, item in data.items()
                        if item.get(b"BODY[]") is not None})
            # in UTC: imapclient's own tzinfo class does not pickle (parse workers)
            arrived.update({int(uid): when.astimezone(UTC) for uid, item in data.items()
                            if isinstance(when := item.get(b"INTERNALDATE"), datetime)
                            and when.tzinfo is not None})
        return out, arrived

    def _fetch(self, uids: list[int], *items: str) -> dict[Any, Any]:
        result: dict[Any, Any] = self._call(lambda c: c.fetch(uids, list(items)))
        return result

    def headers(self, uids: list[int]) -> dict[int, bytes]:
        """The header section of each UID only (for mail too large to fetch)."""
        if not uids:
            return {}
        data = self._call(lambda c: c.fetch(uids, ["BODY.PEEK[HEADER]"]))
        return {int(uid): bytes(item.get(b"BODY[HEADER]") or b"") for uid, item in data.items()}
