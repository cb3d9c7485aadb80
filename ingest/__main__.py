"""``python -m ingest``: the ``cskh`` command."""

import sys

from ingest.cli import main

if __name__ == "__main__":
    sys.exit(main())
