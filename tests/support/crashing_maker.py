"""A record maker whose worker process dies on one UID: stands for a parser crash in native
code. Lives here, importable by name, so that ``ParsePool``'s worker processes can load it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from ingest.mail_records import Fetched, Made, MakeRecords


@dataclass(frozen=True, slots=True)
class CrashingMaker(MakeRecords):
    crash_uid: int = 0

    def __call__(self, fetched: Fetched, received_at: datetime) -> Made:
        if self.crash_uid in fetched.uids:
            os._exit(3)  # no exception, no cleanup: the process is gone
        return MakeRecords.__call__(self, fetched, received_at)
