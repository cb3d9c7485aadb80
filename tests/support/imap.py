"""The test Dovecot from the tests' side: log in, make a throw-away folder, APPEND mail."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from imapclient import IMAPClient


def login(server: Any, *, timeout: float = 30) -> IMAPClient:
    """A plain-IMAP client logged in to ``server`` (the ``imap_server`` fixture's value)."""
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=timeout)
    client.login(server.user, server.password)
    return client


def append(server: Any, folder: str, *messages: bytes) -> None:
    """APPEND ``messages`` to ``folder``, in order (one UID each, ascending)."""
    client = login(server)
    try:
        for raw in messages:
            client.append(folder, raw)
    finally:
        client.logout()


@contextlib.contextmanager
def fresh_folder(server: Any, prefix: str = "cskhtest") -> Iterator[str]:
    """A new folder, deleted afterwards with the ``<folder>-done`` a test may have moved to."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    client = login(server)
    try:
        client.create_folder(name)
    finally:
        client.logout()
    try:
        yield name
    finally:
        client = login(server)
        try:
            for folder in (name, f"{name}-done"):
                if client.folder_exists(folder):
                    client.delete_folder(folder)
        finally:
            client.logout()
