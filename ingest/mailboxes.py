"""Which IMAP mailboxes the ``pullers`` role reads: the ``[[mailboxes]]`` tables of the TOML
file, plus the one mailbox the ``CSKH_IMAP_*`` variables name.

Each (mailbox, folder) pair becomes one puller with its own cursor and its own lease. With
PostgreSQL the cursor is a database row (``ingest.cursors.DbCursor``); with SQLite a file: the
cursor of the ``CSKH_IMAP_*`` mailbox stays exactly at ``CSKH_IMAP_CURSOR_PATH`` (as before
several mailboxes existed); every other pair's cursor lies beside it, named after the mailbox
and folder (or inside it, when ``CSKH_IMAP_CURSOR_PATH`` is a directory).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

if TYPE_CHECKING:
    from ingest.settings import Settings

# IMAP system flags (RFC 3501 §2.3.2) and keywords (atoms, no backslash): what STORE accepts.
_FLAG = r"^(\\(Seen|Answered|Flagged|Deleted|Draft)|[A-Za-z0-9$_.-]+)$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=r"^[A-Za-z0-9._@-]+$")]
Folder = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Queue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                         pattern=r"^[a-z0-9_-]+$")]


class MailboxConfig(BaseModel):
    """One account to read: where, as whom, which folders, and what to do after ingest.

    The password is a ``SecretStr``: it never appears in ``repr``, ``str`` or logs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name = Field(description="used in logs, cursor files and the lease")
    host: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    port: int | None = Field(None, ge=1, le=65535, description="default: 993 with TLS, else 143")
    user: Annotated[str, StringConstraints(min_length=1)]
    password: SecretStr
    tls: bool = True
    ca_file: Path | None = Field(None, description="PEM file of CAs to trust instead of the "
                                                   "system's (a private CA, a self-signed cert)")
    folders: list[Folder] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    queue: Queue | None = Field(None, description="default queue for mail from this mailbox")
    move_to: Folder | None = Field(None, description="move mail here once it is on the bus")
    flag: Annotated[str, StringConstraints(pattern=_FLAG)] | None = Field(
        None, description="set this flag (e.g. \\Seen) once the mail is on the bus")

    @model_validator(mode="after")
    def _check(self) -> MailboxConfig:
        if len(set(self.folders)) != len(self.folders):
            raise ValueError(f"mailbox {self.name!r}: a folder is listed twice")
        if self.move_to is not None and self.move_to in self.folders:
            raise ValueError(f"mailbox {self.name!r}: move_to {self.move_to!r} is also one of "
                             "its folders (mail would be read again after the move)")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"mailbox {self.name!r}: ca_file {self.ca_file} is not a file")
        if self.ca_file is not None and not self.tls:
            raise ValueError(f"mailbox {self.name!r}: ca_file is set but tls is false")
        return self


def check_unique(mailboxes: list[MailboxConfig]) -> list[MailboxConfig]:
    """``mailboxes`` unchanged; ``ValueError`` when two share a name."""
    seen: set[str] = set()
    for box in mailboxes:
        if box.name in seen:
            raise ValueError(f"two mailboxes are named {box.name!r}; names must be unique")
        seen.add(box.name)
    return mailboxes


def env_mailbox(settings: Settings) -> MailboxConfig | None:
    """The mailbox the ``CSKH_IMAP_*`` variables name (``None`` without host and user).

    Its name is ``user@host``, as the cursors of earlier releases recorded it.
    """
    if not settings.imap_host or not settings.imap_user:
        return None
    return MailboxConfig(
        name=f"{settings.imap_user}@{settings.imap_host}", host=settings.imap_host,
        port=settings.imap_port, user=settings.imap_user,
        password=settings.imap_password or SecretStr(""), tls=settings.imap_tls,
        ca_file=settings.imap_ca_file, folders=[settings.imap_folder],
        queue=settings.imap_queue, move_to=settings.imap_move_to, flag=settings.imap_flag)


def _slug(text: str) -> str:
    """A file-name-safe form of ``text``; a digest of the exact text keeps it unique."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:40] or "x"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def cursor_path(base: Path, mailbox: str, folder: str, *, legacy: bool = False) -> Path:
    """Where the cursor of (``mailbox``, ``folder``) lives, given ``CSKH_IMAP_CURSOR_PATH``.

    ``legacy``: the ``CSKH_IMAP_*`` mailbox, whose cursor is ``base`` itself.
    """
    if base.is_dir():
        return base / f"{_slug(mailbox)}.{_slug(folder)}.json"
    if legacy:
        return base
    return base.with_name(f"{base.stem}.{_slug(mailbox)}.{_slug(folder)}{base.suffix or '.json'}")


def configured(settings: Settings) -> list[tuple[MailboxConfig, bool]]:
    """Every mailbox to read, each with whether it is the ``CSKH_IMAP_*`` one.

    ``ValueError`` when the env mailbox and a TOML mailbox share a name.
    """
    found = [(box, False) for box in settings.mailboxes]
    env = env_mailbox(settings)
    if env is not None:
        found.insert(0, (env, True))
    check_unique([box for box, _ in found])
    return found
