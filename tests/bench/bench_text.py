"""Text processing time per message against its length: ``python -m tests.bench text``.

For each shape of text (a single word with no space at all, the worst case of a pattern that
backtracks; a run of digits; ordinary Vietnamese prose repeated) and each length up to the
largest message a channel lets through (the web form's and a call note's 20,000 characters, a
marketplace or Zalo text inside its 256 KiB body, a Messenger batch inside its 1 MiB body),
prints the time of:

* ``entities``: ``normalizer.entities.extract_entities`` of the whole text;
* ``classifier_text``: the classifier's text form (``normalizer.text.classifier_text``) of
  the whole text;
* ``classify``: the whole classification of one message, entities included, of what the
  normalizer hands the classifier (``normalizer.text.scanned``: the first
  ``MAX_SCANNED_CHARS``) (``--model PATH``; without it a model is trained in a child
  process).

Each figure is the best of ``--rounds`` runs. A plain script: figures depend on the machine
and are never asserted. ``--max-seconds`` skips the longer lengths of a shape once one run
took longer than that (so a quadratic build still finishes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LENGTHS = (1_000, 10_000, 20_000, 30_000, 100_000, 240_000, 1_000_000)
LIMITS = {20_000: "webform message, hotline note", 240_000: "zalo/shopee/lazada/tiktok text",
          1_000_000: "facebook batch"}
PROSE = ("Chào anh/chị, hóa đơn VAT số 0000123 ký hiệu 1C24TAA ghi sai MST 0312345678, "
         "đơn DH-2024-00123 giao thiếu 2 thùng, tổng 1.500.000đ; gọi 0912 345 678 hoặc "
         "mail ketoan@minhphat.vn trước ngày 12/06. ")
SHAPES: dict[str, Callable[[int], str]] = {
    "one word": lambda n: ("aăâbcdđeêghiklmnoôơpqrstuưvxy" * (n // 29 + 1))[:n],
    "digits": lambda n: ("0123456789" * (n // 10 + 1))[:n],
    "prose": lambda n: (PROSE * (n // len(PROSE) + 1))[:n],
}


def _best(fn: Callable[[str], object], text: str, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - started)
    return best


def _model(path: Path | None, tmp: str) -> Path:
    if path is not None:
        return path
    path = Path(tmp) / "model.joblib"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "normalizer.classifier", "train", "--out", str(path)],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"trained a model in a child process in {time.perf_counter() - started:.1f} s")
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench text")
    parser.add_argument("--model", type=Path, help="model to load (default: train one first)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--max-seconds", type=float, default=20.0,
                        help="skip a shape's longer lengths once one run took longer")
    parser.add_argument("--no-classify", action="store_true", help="skip the classify column")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    from normalizer.entities import extract_entities
    from normalizer.text import classifier_text, scanned

    with tempfile.TemporaryDirectory() as tmp:
        classify: Callable[[str], object] | None = None
        if not args.no_classify:
            from normalizer.classifier import Classifier

            clf = Classifier.load(_model(args.model, tmp))
            clf.classify_many([(PROSE, "zalo")])
            classify = lambda text: clf.classify_many([(scanned(text), "zalo")])  # noqa: E731

        print(f"{'shape':<9} {'chars':>9}  {'entities':>10} {'classifier_text':>16} "
              f"{'classify':>10}  (best of {args.rounds}; ms per message)")
        for shape, make in SHAPES.items():
            slow = False
            for n in LENGTHS:
                text = make(n)
                if slow:
                    print(f"{shape:<9} {n:>9}  skipped (a shorter one took > "
                          f"{args.max_seconds:g} s)")
                    continue
                figures = [_best(extract_entities, text, args.rounds),
                           _best(classifier_text, text, args.rounds)]
                if classify is not None:
                    figures.append(_best(classify, text, args.rounds))
                cells = [f"{f * 1000:>10.1f}" for f in figures]
                note = f"  <- {LIMITS[n]}" if n in LIMITS else ""
                print(f"{shape:<9} {n:>9}  {cells[0]} {cells[1]:>16} "
                      f"{cells[2] if len(cells) > 2 else '-':>10}{note}", flush=True)
                slow = max(figures) > args.max_seconds
    return 0


if __name__ == "__main__":
    sys.exit(main())
