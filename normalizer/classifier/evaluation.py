"""Measuring a classifier on labelled messages.

Scores per field (accuracy and macro-F1), the category confusion matrix, the same scores
on the no-diacritics subset (the messages whose text has no Vietnamese letter with a
diacritic, which is how a good share of customers type), and on a stripped copy of every
message (diacritics removed, as if all of them had been typed that way). Each message is
classified with its context (tier, repeated contact, missed call) when the file gives one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from normalizer.classifier.dataset import read_examples
from normalizer.classifier.labels import CATEGORIES, FIELDS
from normalizer.text import has_vietnamese_diacritics, strip_diacritics

if TYPE_CHECKING:
    from normalizer.classifier.model import Classifier
    from normalizer.classifier.signals import MessageContext

__all__ = ["EvalReport", "Scores", "evaluate", "score"]


@dataclass(frozen=True)
class Scores:
    """Accuracy and macro-averaged F1 of one field."""

    accuracy: float
    macro_f1: float

    def to_json(self) -> dict[str, float]:
        """``{"accuracy": …, "macro_f1": …}``."""
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1}


def score(truth: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Accuracy and macro-F1 of `predicted` against `truth` (same length). Macro-F1
    averages over every label found in either sequence; a label never predicted, or
    never true, scores F1 0. Both are 0.0 for empty input."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    if not truth:
        return Scores(0.0, 0.0)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    f1s = []
    for label in sorted(set(truth) | set(predicted)):
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        n_true = sum(t == label for t in truth)
        n_pred = sum(p == label for p in predicted)
        f1s.append(2 * tp / (n_true + n_pred) if tp else 0.0)
    return Scores(correct / len(truth), sum(f1s) / len(f1s))


@dataclass(frozen=True)
class EvalReport:
    """Scores of a classifier on one labelled file."""

    count: int
    scores: dict[str, Scores]
    no_diacritics_count: int
    no_diacritics: dict[str, Scores]
    confusion_labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    """Rows are true categories, columns predicted ones, both in `confusion_labels` order."""
    stripped: dict[str, Scores]
    """Scores on every message with its diacritics removed."""

    def to_json(self) -> dict[str, Any]:
        """``{"category": {"accuracy", "macro_f1"}, "priority": {…}, "sentiment": {…},
        "no_diacritics": {"category": {…}, "priority": {…}, "sentiment": {…}},
        "stripped": {…same fields…}, "confusion": {"labels": […], "matrix": [[…]]},
        "count": n}``."""
        out: dict[str, Any] = {f: self.scores[f].to_json() for f in FIELDS}
        out["no_diacritics"] = {f: self.no_diacritics[f].to_json() for f in FIELDS}
        out["stripped"] = {f: self.stripped[f].to_json() for f in FIELDS}
        out["confusion"] = {"labels": list(self.confusion_labels),
                            "matrix": [list(row) for row in self.confusion]}
        out["count"] = self.count
        return out

    def format_text(self) -> str:
        """A readable table: scores per field on all messages and on the no-diacritics
        subset, the same on the stripped copy, then the category confusion matrix."""
        lines = [f"{'field':<10} {'accuracy':>9} {'macro-F1':>9}   no diacritics "
                 f"(n={self.no_diacritics_count}): {'accuracy':>9} {'macro-F1':>9}"]
        pad = " " * len(f"   no diacritics (n={self.no_diacritics_count}): ")
        for f in FIELDS:
            s, nd = self.scores[f], self.no_diacritics[f]
            lines.append(f"{f:<10} {s.accuracy:>9.3f} {s.macro_f1:>9.3f}{pad}"
                         f"{nd.accuracy:>9.3f} {nd.macro_f1:>9.3f}")
        lines.append(f"({self.count} messages)")
        lines.append("all messages with diacritics removed: " + ", ".join(
            f"{f} {self.stripped[f].accuracy:.3f} / {self.stripped[f].macro_f1:.3f}"
            for f in FIELDS) + " (accuracy / macro-F1)")
        lines.append("")
        lines.append("category confusion (rows: true, columns: predicted)")
        short = [label[:5] for label in self.confusion_labels]
        width = max(len(label) for label in self.confusion_labels)
        lines.append(" " * width + " " + " ".join(f"{s:>5}" for s in short))
        for label, row in zip(self.confusion_labels, self.confusion, strict=True):
            cells = " ".join(f"{n:>5}" if n else f"{'.':>5}" for n in row)
            lines.append(f"{label:<{width}} {cells}")
        return "\n".join(lines)


def evaluate(clf: Classifier, path: Path) -> EvalReport:
    """Score `clf` on the labelled JSON-lines file at `path` (same format as training
    data). Raises ``ValueError`` on a malformed line."""
    examples = read_examples([Path(path)])
    contexts = [e.context for e in examples]
    predicted = _predict(clf, [e.text for e in examples], contexts)
    unmarked = _predict(clf, [strip_diacritics(e.text) for e in examples], contexts)
    plain = [i for i, e in enumerate(examples) if not has_vietnamese_diacritics(e.text)]
    scores: dict[str, Scores] = {}
    no_diacritics: dict[str, Scores] = {}
    stripped: dict[str, Scores] = {}
    for f in FIELDS:
        truth = [e.label(f) for e in examples]
        scores[f] = score(truth, predicted[f])
        no_diacritics[f] = score([truth[i] for i in plain], [predicted[f][i] for i in plain])
        stripped[f] = score(truth, unmarked[f])
    index = {label: i for i, label in enumerate(CATEGORIES)}
    matrix = [[0] * len(CATEGORIES) for _ in CATEGORIES]
    for e, p in zip(examples, predicted["category"], strict=True):
        matrix[index[e.category]][index[p]] += 1
    return EvalReport(
        count=len(examples),
        scores=scores,
        no_diacritics_count=len(plain),
        no_diacritics=no_diacritics,
        confusion_labels=CATEGORIES,
        confusion=tuple(tuple(row) for row in matrix),
        stripped=stripped,
    )


def _predict(clf: Classifier, texts: list[str], contexts: list[MessageContext]
             ) -> dict[str, list[str]]:
    probs = clf.probabilities(texts, contexts)
    return {h.field: [h.labels[i] for i in probs[h.field].argmax(axis=1)] for h in clf.heads}
