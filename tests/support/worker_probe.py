"""What a ``ParsePool`` worker has imported: importable by name, so a worker can run it."""

from __future__ import annotations

import os
import sys


def modules() -> tuple[int, frozenset[str]]:
    """(this process's id, the names of the modules it has imported)."""
    return os.getpid(), frozenset(sys.modules)
