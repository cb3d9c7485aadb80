"""Turning messages into the sparse vectors the linear heads read.

Three blocks, side by side: TF-IDF of word uni- and bigrams, TF-IDF of character 2–5-grams
inside word boundaries (the ``char_wb`` scheme of scikit-learn), and the rule markers of
:mod:`normalizer.classifier.rules`. Both TF-IDF blocks use sublinear term frequency and are
L2-normalised separately. Everything reads :func:`normalizer.text.classifier_text`, so the
features of a message are the same with and without diacritics.

`FeatureSpace` holds only plain data (vocabularies and idf weights), so a saved model loads
without scikit-learn; training fits the vocabularies with scikit-learn's
``TfidfVectorizer`` using the analyzers below, and the tests check that both give the same
vectors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import scipy.sparse as sp

from normalizer.classifier.rules import MARKERS, markers

__all__ = ["ANALYZERS", "FeatureSpace", "char_ngrams", "word_ngrams"]

_TOKEN = re.compile(r":[a-z]+:|\w+")
CHAR_MIN, CHAR_MAX = 2, 5
RULE_VALUE: Final = 0.5
"""Value a firing marker takes, on the scale of the L2-normalised TF-IDF blocks."""


def word_ngrams(text: str) -> list[str]:
    """Word unigrams and bigrams of `text` (words are runs of letters and digits; emoji
    tokens such as ``:angry:`` count as words)."""
    tokens = _TOKEN.findall(text)
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def char_ngrams(text: str) -> list[str]:
    """Character 2–5-grams of each whitespace-separated word padded with one space on
    each side; a padded word shorter than n counts once, whole (scikit-learn's
    ``char_wb``)."""
    grams: list[str] = []
    for word in text.split():
        w = f" {word} "
        for n in range(CHAR_MIN, CHAR_MAX + 1):
            if len(w) <= n:
                grams.append(w)
                break
            grams.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return grams


ANALYZERS: Final[dict[str, Callable[[str], list[str]]]] = {
    "word": word_ngrams,
    "char": char_ngrams,
}


@dataclass(frozen=True)
class _Block:
    analyzer: Callable[[str], list[str]]
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    offset: int


class FeatureSpace:
    """Maps ``classifier_text`` forms to feature vectors.

    Built from fitted vocabularies and idf weights; holds no scikit-learn objects.
    """

    def __init__(self, blocks: Sequence[tuple[str, Mapping[str, int], np.ndarray]]) -> None:
        """`blocks` are ``(analyzer name, vocabulary, idf)`` in column order; the rule
        markers follow as the last columns."""
        self._blocks: list[_Block] = []
        offset = 0
        for name, vocabulary, idf in blocks:
            self._blocks.append(_Block(ANALYZERS[name], vocabulary, np.asarray(idf), offset))
            offset += len(vocabulary)
        self._rule_offset = offset
        self.n_features = offset + len(MARKERS)

    def _row(self, text: str) -> tuple[list[int], list[float]]:
        cols: list[int] = []
        vals: list[float] = []
        for block in self._blocks:
            counts: dict[int, int] = {}
            vocab = block.vocabulary
            for gram in block.analyzer(text):
                j = vocab.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            idx = list(counts)
            weights = [(1.0 + math.log(c)) * w
                       for c, w in zip(counts.values(), block.idf[idx].tolist(), strict=True)]
            norm = math.sqrt(sum(x * x for x in weights))
            cols.extend(j + block.offset for j in idx)
            vals.extend(x / norm for x in weights)
        for i in markers(text):
            cols.append(self._rule_offset + i)
            vals.append(RULE_VALUE)
        return cols, vals

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """One CSR row per text (each already in ``classifier_text`` form)."""
        indptr = [0]
        cols: list[int] = []
        vals: list[float] = []
        for text in texts:
            c, v = self._row(text)
            cols.extend(c)
            vals.extend(v)
            indptr.append(len(cols))
        return sp.csr_matrix(
            (np.asarray(vals, dtype=np.float64), np.asarray(cols, dtype=np.int64),
             np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), self.n_features),
        )

    def linear(self, text: str, weights: np.ndarray) -> np.ndarray:
        """``transform([text]) @ weights`` for one text, without building a matrix."""
        cols, vals = self._row(text)
        if not cols:
            return np.zeros(weights.shape[1])
        return np.asarray(vals) @ weights[cols]

    def to_state(self) -> list[tuple[str, dict[str, int], np.ndarray]]:
        """Plain data from which ``FeatureSpace(state)`` rebuilds this space."""
        names = {fn: name for name, fn in ANALYZERS.items()}
        return [(names[b.analyzer], dict(b.vocabulary), b.idf) for b in self._blocks]
