"""Category, priority and sentiment of customers' messages.

Typical use::

    clf = Classifier.load_or_train(default_model_path())
    result = clf.classify("Hóa đơn số 0000123 bị sai MST", "email",
                          MessageContext(tier="key", repeat=1))
    result.category, result.priority, result.sentiment, result.needs_review

Train with :func:`train` (``python -m normalizer.classifier train``), measure with
:func:`evaluate` (``python -m normalizer.classifier eval FILE``). Training needs
scikit-learn; loading and classifying do not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from normalizer.classifier.dataset import shipped_data_paths, shipped_test_path
from normalizer.classifier.evaluation import EvalReport, Scores, evaluate
from normalizer.classifier.labels import CATEGORIES, CHANNELS, PRIORITIES, SENTIMENTS
from normalizer.classifier.model import (
    Classification,
    Classifier,
    ModelFormatError,
    default_model_path,
)
from normalizer.classifier.signals import MessageContext

if TYPE_CHECKING:
    from normalizer.classifier.training import TrainReport, train

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "PRIORITIES",
    "SENTIMENTS",
    "Classification",
    "Classifier",
    "EvalReport",
    "MessageContext",
    "ModelFormatError",
    "Scores",
    "TrainReport",
    "default_model_path",
    "evaluate",
    "shipped_data_paths",
    "shipped_test_path",
    "train",
]


def __getattr__(name: str) -> Any:
    # Training imports scikit-learn, which takes longer to import than a model takes to
    # load: import it only when asked for.
    if name in ("train", "TrainReport"):
        from normalizer.classifier import training

        return getattr(training, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
