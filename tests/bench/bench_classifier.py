"""Classifier throughput: ``python tests/bench/bench_classifier.py [--model PATH] [--rounds N]``.

Prints the time to import and load a model, messages per second through
``Classifier.classify`` (entities included) pinned to one core, the same through
``classify_many`` in batches, and the peak resident memory of this process. The messages
are the shipped held-back set, a realistic mix of e-mails, chat and call notes, each
classified with its context (tier, repeated contact, missed call) where the set gives one.

Without ``--model`` a model is trained from the shipped data in a child process first, so
that training (and scikit-learn) do not count towards this process's memory. A plain
script, not a test: numbers depend on the machine and are never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="bench_classifier")
    parser.add_argument("--model", type=Path, help="model to load (default: train one first)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="passes over the message set per measurement (default 10)")
    parser.add_argument("--batch", type=int, default=256, help="classify_many batch size")
    args = parser.parse_args(argv)

    # Keep numpy/BLAS to one thread: the figure is per core.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    pinned = _pin_to_one_core()

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            model_path = Path(tmp) / "model.joblib"
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "normalizer.classifier", "train", "--out",
                            str(model_path)], check=True, stdout=subprocess.DEVNULL)
            print(f"trained a model in a child process in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        from normalizer.classifier import Classifier, shipped_test_path
        from normalizer.classifier.dataset import read_examples

        imported = time.perf_counter()
        clf = Classifier.load(model_path)
        loaded = time.perf_counter()
        print(f"import {imported - started:.3f} s, model load {loaded - imported:.3f} s "
              f"({model_path.stat().st_size / 2**20:.1f} MiB on disk); "
              f"scikit-learn imported: {'sklearn' in sys.modules}")

        items = [(e.text, e.channel, e.context) for e in read_examples([shipped_test_path()])]
        clf.classify_many(items)  # warm the per-word caches, as a running service would
        work = items * args.rounds
        print(f"{len(items)} distinct messages x {args.rounds} rounds; {pinned}")

        started = time.perf_counter()
        for text, channel, context in work:
            clf.classify(text, channel, context)
        elapsed = time.perf_counter() - started
        print(f"classify:      {len(work) / elapsed:8.0f} msgs/s  "
              f"({elapsed / len(work) * 1e6:.0f} µs per message, entities included)")

        started = time.perf_counter()
        for i in range(0, len(work), args.batch):
            clf.classify_many(work[i:i + args.batch])
        elapsed = time.perf_counter() - started
        print(f"classify_many: {len(work) / elapsed:8.0f} msgs/s  (batches of {args.batch})")

    print(f"peak memory:   {_peak_rss_mib():8.0f} MiB resident")
    return 0


if __name__ == "__main__":
    sys.exit(main())
