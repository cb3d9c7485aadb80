"""``python -m normalizer.classifier train|eval`` — a developer's entry point.

The product's commands are ``cskh model train`` and ``cskh model eval``; this one exists
to work on the classifier without the rest of the service.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from normalizer.classifier.dataset import shipped_data_paths, shipped_test_path
from normalizer.classifier.evaluation import evaluate
from normalizer.classifier.model import Classifier, default_model_path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in `argv`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m normalizer.classifier")
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train on labelled JSON-lines files")
    p_train.add_argument("files", nargs="*", type=Path,
                         help="training files (default: the shipped train.jsonl)")
    p_train.add_argument("--out", type=Path, default=None,
                         help="model path (default: $CSKH_MODEL_PATH or ./cskh-model.joblib)")
    p_train.add_argument("--seed", type=int, default=13)
    p_train.add_argument("--json", action="store_true", help="print the report as JSON")
    p_eval = sub.add_parser("eval", help="score the model on a labelled JSON-lines file")
    p_eval.add_argument("file", nargs="?", type=Path, default=None,
                        help="labelled file (default: the shipped test.jsonl)")
    p_eval.add_argument("--model", type=Path, default=None,
                        help="model path; trained from the shipped data if missing")
    p_eval.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    if args.command == "train":
        from normalizer.classifier.training import train

        report = train(args.files or shipped_data_paths(), args.out or default_model_path(),
                       seed=args.seed)
        print(json.dumps(report.to_json(), indent=2) if args.json else report.format_text())
        return 0
    clf = Classifier.load_or_train(args.model or default_model_path())
    result = evaluate(clf, args.file or shipped_test_path())
    print(json.dumps(result.to_json(), indent=2) if args.json else result.format_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
