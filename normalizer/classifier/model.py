"""The trained classifier: category, priority and sentiment of a customer's message.

A model is one joblib file of plain data (vocabularies, idf weights, one weight matrix,
per-field calibration temperatures). Loading it needs numpy and scipy but not
scikit-learn, and takes a fraction of a second. Only load files you produced yourself:
like any pickle, a joblib file can run code when loaded.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np

from normalizer.classifier.features import FeatureSpace
from normalizer.classifier.signals import NO_CONTEXT, MessageContext, signals
from normalizer.entities import Entities, extract_entities
from normalizer.text import classifier_text

__all__ = [
    "DEFAULT_REVIEW_THRESHOLD",
    "MODEL_FORMAT",
    "Classification",
    "Classifier",
    "Head",
    "Item",
    "ModelFormatError",
    "default_model_path",
]

Item = tuple[str, str] | tuple[str, str, MessageContext]
"""A message to classify: ``(text, channel)`` or ``(text, channel, context)``."""

MODEL_FORMAT: Final = "cskh-classifier/2"
"""Version 2 added the signal columns (context, amounts, dates); a version-1 file is
retrained by :meth:`Classifier.load_or_train`."""
DEFAULT_REVIEW_THRESHOLD: Final = 0.5
_log = logging.getLogger(__name__)


class ModelFormatError(ValueError):
    """The file is not a model this code can read."""


def default_model_path() -> Path:
    """Where the model lives unless told otherwise: ``$CSKH_MODEL_PATH`` if set, else
    ``cskh-model.joblib`` in the current directory."""
    return Path(os.environ.get("CSKH_MODEL_PATH") or "cskh-model.joblib")


@dataclass(frozen=True)
class Classification:
    """What the classifier concluded about one message. Confidences are probabilities in
    [0, 1]; `needs_review` is true when the category confidence is below the review
    threshold; `entities` is JSON-serializable (lists, strings, numbers)."""

    category: str
    category_confidence: float
    priority: str
    priority_confidence: float
    sentiment: str
    sentiment_confidence: float
    needs_review: bool
    entities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Head:
    """One predicted field: its labels and the columns of the weight matrix they use.
    Probabilities are ``softmax(logits / temperature)``."""

    field: str
    labels: tuple[str, ...]
    start: int
    stop: int
    temperature: float


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    result: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return result


class Classifier:
    """A loaded model. Safe to share between threads: classifying changes nothing but a
    bounded cache of per-word feature lookups."""

    def __init__(self, features: FeatureSpace, weights: np.ndarray, bias: np.ndarray,
                 heads: Sequence[Head], *, review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
                 info: Mapping[str, Any] | None = None) -> None:
        """`weights` has one row per feature and one column per label of every head."""
        width = heads[-1].stop
        if weights.shape != (features.n_features, width) or bias.shape != (width,):
            raise ModelFormatError("weights do not match the features and heads")
        self.features = features
        self.weights = weights
        self.bias = bias
        self.heads = tuple(heads)
        self.review_threshold = review_threshold
        self.info: dict[str, Any] = dict(info or {})

    # --- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the model to `path` atomically (readers never see a partial file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": MODEL_FORMAT,
            "features": self.features.to_state(),
            "weights": self.weights,
            "bias": self.bias,
            "heads": [h.__dict__ for h in self.heads],
            "review_threshold": self.review_threshold,
            "info": self.info,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            joblib.dump(state, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, *, review_threshold: float | None = None) -> Classifier:
        """The model saved at `path`. `review_threshold` overrides the one saved with it.
        Raises ``OSError`` if the file cannot be read and :class:`ModelFormatError` if it
        is not a model of this format."""
        state = joblib.load(Path(path))
        if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
            raise ModelFormatError(f"{path}: not a {MODEL_FORMAT} model")
        try:
            return cls(
                FeatureSpace(state["features"]),
                np.asarray(state["weights"], dtype=np.float64),
                np.asarray(state["bias"], dtype=np.float64),
                [Head(**h) for h in state["heads"]],
                review_threshold=(state["review_threshold"] if review_threshold is None
                                  else review_threshold),
                info=state["info"],
            )
        except (KeyError, TypeError, IndexError) as e:
            raise ModelFormatError(f"{path}: damaged model: {e!r}") from e

    @classmethod
    def load_or_train(cls, path: Path, *, review_threshold: float | None = None) -> Classifier:
        """The model at `path`; if it is missing or unreadable, train one from the shipped
        data, save it at `path` and return it. Never returns without a usable model."""
        try:
            return cls.load(path, review_threshold=review_threshold)
        except FileNotFoundError:
            pass
        except Exception as e:  # any unreadable file: pickle, zlib, format errors
            _log.warning("model %s unreadable (%r); retraining from shipped data", path, e)
        from normalizer.classifier.dataset import shipped_data_paths
        from normalizer.classifier.training import train

        train(shipped_data_paths(), Path(path))
        return cls.load(path, review_threshold=review_threshold)

    # --- prediction --------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str],
                      contexts: Sequence[MessageContext] | None = None) -> dict[str, np.ndarray]:
        """For each field, a ``(len(texts), len(head.labels))`` array of probabilities,
        columns in ``head.labels`` order; ``contexts[i]`` is the context of ``texts[i]``
        (none if omitted). Vectorizes the whole batch at once."""
        return self._probabilities(texts, [extract_entities(t) for t in texts], contexts)

    def _probabilities(self, texts: Sequence[str], entities: Sequence[Entities],
                       contexts: Sequence[MessageContext] | None) -> dict[str, np.ndarray]:
        forms = [classifier_text(t) for t in texts]
        fired = [signals(f, e, c) for f, e, c in
                 zip(forms, entities, contexts or [NO_CONTEXT] * len(texts), strict=True)]
        logits = np.asarray(self.features.transform(forms, fired) @ self.weights) + self.bias
        return {h.field: _softmax_rows(logits[:, h.start:h.stop] / h.temperature)
                for h in self.heads}

    def _decide(self, probs: Mapping[str, np.ndarray], entities: Entities) -> Classification:
        best: dict[str, tuple[str, float]] = {}
        for h in self.heads:
            p = probs[h.field]
            i = int(np.argmax(p))
            best[h.field] = (h.labels[i], float(p[i]))
        category, category_confidence = best["category"]
        return Classification(
            category=category,
            category_confidence=category_confidence,
            priority=best["priority"][0],
            priority_confidence=best["priority"][1],
            sentiment=best["sentiment"][0],
            sentiment_confidence=best["sentiment"][1],
            needs_review=category_confidence < self.review_threshold,
            entities=entities.model_dump(mode="json"),
        )

    def classify(self, text: str, channel: str,
                 context: MessageContext | None = None) -> Classification:
        """Category, priority and sentiment of `text`, with confidences, the review flag
        and the entities found in it. `context` (the customer's tier, a repeated contact, a
        missed call) weighs on the priority mostly; the amounts and dates found in the text
        count too. `channel` is accepted for context; the current model does not read it.
        Never raises on any string."""
        form = classifier_text(text)
        entities = extract_entities(text)
        fired = signals(form, entities, context or NO_CONTEXT)
        logits = self.features.linear(form, self.weights, fired) + self.bias
        probs = {h.field: _softmax_rows(logits[h.start:h.stop] / h.temperature)
                 for h in self.heads}
        return self._decide(probs, entities)

    def classify_many(self, items: Sequence[Item]) -> list[Classification]:
        """:meth:`classify` for each ``(text, channel)`` or ``(text, channel, context)``
        item, in order, vectorizing the batch once; gives the same results as classifying
        one at a time."""
        if not items:
            return []
        texts = [item[0] for item in items]
        contexts = [item[2] if len(item) == 3 else NO_CONTEXT for item in items]
        entities = [extract_entities(t) for t in texts]
        probs = self._probabilities(texts, entities, contexts)
        return [self._decide({f: p[i] for f, p in probs.items()}, entities[i])
                for i in range(len(texts))]
