"""Attachment bytes: described always, stored content-addressed when a directory is given.

Files land at ``<dir>/<sha256[:2]>/<sha256>`` (written to a temporary name, then renamed, so
a reader never sees half a file and the same bytes are stored once however often they come).
A file over the size limit is described (name, type, size, digest) but never stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from connectors.envelope import Attachment, nfc

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")
MAX_NAME = 255


def clean_name(name: str) -> str:
    """A display name for a file: NFC, no control characters or path separators."""
    cleaned = _UNSAFE.sub(" ", nfc(name)).strip(" .")
    return cleaned[:MAX_NAME] or "attachment"


def store(data: bytes, directory: Path, digest: str) -> Path:
    """Write ``data`` under ``directory`` by its digest (no-op if already there)."""
    target = directory / digest[:2] / digest
    if target.exists() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{digest}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def describe(data: bytes, *, name: str, content_type: str, directory: Path | None,
             max_bytes: int) -> tuple[Attachment, bool]:
    """The attachment record for ``data`` and whether it was over ``max_bytes`` (not stored)."""
    digest = hashlib.sha256(data).hexdigest()
    oversize = len(data) > max_bytes
    stored_at = None
    if directory is not None and not oversize:
        stored_at = str(store(data, directory, digest))
    return Attachment(name=clean_name(name), content_type=content_type, size=len(data),
                      sha256=digest, stored_at=stored_at), oversize
