"""`python -m tests.bench [flow] [--backend embedded|distributed] …` — see bench_flow."""

from __future__ import annotations

import sys

from tests.bench import bench_flow

if __name__ == "__main__":
    sys.exit(bench_flow.main(sys.argv[1:]))
