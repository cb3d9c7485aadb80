"""`python -m tests.bench [flow|channels|router|email|reports|text|inbox|tokens|care] [options]`:
see bench_*."""

from __future__ import annotations

import sys

from tests.bench import (
    bench_care,
    bench_channels,
    bench_email,
    bench_flow,
    bench_inbox,
    bench_reports,
    bench_router,
    bench_text,
    bench_tokens,
)

if __name__ == "__main__":
    argv = sys.argv[1:]
    benches = {"flow": bench_flow, "channels": bench_channels, "router": bench_router,
               "email": bench_email, "reports": bench_reports, "text": bench_text,
               "inbox": bench_inbox, "tokens": bench_tokens, "care": bench_care}
    which = argv.pop(0) if argv and argv[0] in benches else "flow"
    sys.exit(benches[which].main(argv))
