"""`python -m tests.bench [flow|channels] [options]` — see bench_flow and bench_channels."""

from __future__ import annotations

import sys

from tests.bench import bench_channels, bench_flow

if __name__ == "__main__":
    argv = sys.argv[1:]
    which = argv.pop(0) if argv and argv[0] in ("flow", "channels") else "flow"
    sys.exit((bench_channels if which == "channels" else bench_flow).main(argv))
