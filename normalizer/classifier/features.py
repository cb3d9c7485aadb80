"""Turning messages into the sparse vectors the linear heads read.

Four blocks, side by side: TF-IDF of word uni- and bigrams, TF-IDF of character 2–5-grams
inside word boundaries (the ``char_wb`` scheme of scikit-learn), the rule markers of
:mod:`normalizer.classifier.rules`, and the signals of :mod:`normalizer.classifier.signals`
(context and entities, computed by the caller and passed in as indexes). Both TF-IDF
blocks use sublinear term frequency and are L2-normalised separately, with n-grams outside
the vocabulary counted in the norm (each occurrence as a distinct term of the block's
highest idf): a message made mostly of unknown words gets a short vector, so the model is
unsure about it instead of reading its few known n-grams at full strength. Everything reads
:func:`normalizer.text.classifier_text`, so the features of a message are the same with and
without diacritics.

`FeatureSpace` holds only plain data (vocabularies and idf weights), so a saved model loads
without scikit-learn; training fits the vocabularies and idf weights with scikit-learn's
``TfidfVectorizer`` using the analyzers below. On text whose n-grams are all known, the
TF-IDF blocks equal that vectorizer's output (the tests check it).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import scipy.sparse as sp

from normalizer.classifier.rules import MARKERS, markers
from normalizer.classifier.signals import SIGNALS

__all__ = ["ANALYZERS", "FeatureSpace", "char_ngrams", "word_ngrams"]

_TOKEN = re.compile(r":[a-z]+:|\w+")
CHAR_MIN, CHAR_MAX = 2, 5
RULE_VALUE: Final = 0.5
"""Value a firing marker takes, on the scale of the L2-normalised TF-IDF blocks."""


def word_ngrams(text: str) -> list[str]:
    """Word unigrams and bigrams of `text` (words are runs of letters and digits; emoji
    tokens such as ``:angry:`` count as words)."""
    tokens = _TOKEN.findall(text)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


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


WORDWISE: Final = frozenset({"char"})
"""Analyzers whose n-grams never cross a word boundary: counted word by word, with each
word's known n-grams cached."""
_CACHE_LIMIT: Final = 200_000


@dataclass(frozen=True)
class _Block:
    name: str
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    offset: int
    unknown_idf: float
    cache: dict[str, tuple[list[int], int]] = field(default_factory=dict)

    def _lookup(self, grams: list[str]) -> tuple[list[int], int]:
        """Vocabulary indices of the known grams (repeats kept) and the number unknown."""
        vocab = self.vocabulary
        known = [j for j in map(vocab.get, grams) if j is not None]
        return known, len(grams) - len(known)

    def counts(self, text: str) -> tuple[Counter[int], int]:
        """Occurrences of each known n-gram of `text`, and how many were unknown."""
        if self.name not in WORDWISE:
            known, unknown = self._lookup(ANALYZERS[self.name](text))
            return Counter(known), unknown
        analyzer = ANALYZERS[self.name]
        cache = self.cache
        indices: list[int] = []
        unknown = 0
        for word in text.split():
            hit = cache.get(word)
            if hit is None:
                hit = self._lookup(analyzer(word))
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[word] = hit
            indices.extend(hit[0])
            unknown += hit[1]
        return Counter(indices), unknown


class FeatureSpace:
    """Maps ``classifier_text`` forms to feature vectors.

    Built from fitted vocabularies and idf weights; holds no scikit-learn objects. Safe to
    share between threads (its only mutable part is a cache of per-word lookups).
    """

    def __init__(self, blocks: Sequence[tuple[str, Mapping[str, int], np.ndarray]]) -> None:
        """`blocks` are ``(analyzer name, vocabulary, idf)`` in column order; the rule
        markers follow, then the signals as the last columns."""
        self._blocks: list[_Block] = []
        offset = 0
        for name, vocabulary, idf in blocks:
            if name not in ANALYZERS:
                raise ValueError(f"unknown analyzer {name!r}")
            idf = np.asarray(idf, dtype=np.float64)
            self._blocks.append(_Block(name, vocabulary, idf, offset,
                                       float(idf.max()) if len(idf) else 1.0))
            offset += len(vocabulary)
        self._rule_offset = offset
        self._signal_offset = offset + len(MARKERS)
        self.n_features = self._signal_offset + len(SIGNALS)

    def _row(self, text: str, fired_signals: Sequence[int] = ()) -> tuple[np.ndarray,
                                                                          np.ndarray]:
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for block in self._blocks:
            counts, unknown = block.counts(text)
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weights = (1.0 + np.log(tf)) * block.idf[idx]
            norm = math.sqrt(float(weights @ weights) + unknown * block.unknown_idf ** 2)
            cols.append(idx + block.offset)
            vals.append(weights / norm)
        fired = markers(text)
        if fired:
            cols.append(np.asarray(fired, dtype=np.int64) + self._rule_offset)
            vals.append(np.full(len(fired), RULE_VALUE))
        if fired_signals:
            cols.append(np.asarray(fired_signals, dtype=np.int64) + self._signal_offset)
            vals.append(np.full(len(fired_signals), RULE_VALUE))
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(cols), np.concatenate(vals)

    def transform(self, texts: Sequence[str],
                  fired_signals: Sequence[Sequence[int]] | None = None) -> sp.csr_matrix:
        """One CSR row per text (each already in ``classifier_text`` form); row ``i`` has
        the signals ``fired_signals[i]`` (indexes into ``SIGNALS``), none if omitted."""
        if fired_signals is None:
            fired_signals = [()] * len(texts)
        rows = [self._row(text, fired) for text, fired in zip(texts, fired_signals, strict=True)]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(c) for c, _ in rows])
        cols = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        vals = np.concatenate([v for _, v in rows]) if rows else np.zeros(0)
        return sp.csr_matrix((vals, cols, indptr), shape=(len(texts), self.n_features))

    def linear(self, text: str, weights: np.ndarray,
               fired_signals: Sequence[int] = ()) -> np.ndarray:
        """``transform([text], [fired_signals]) @ weights`` for one text, without building
        a matrix."""
        cols, vals = self._row(text, fired_signals)
        result: np.ndarray = vals @ weights[cols]
        return result

    def to_state(self) -> list[tuple[str, dict[str, int], np.ndarray]]:
        """Plain data from which ``FeatureSpace(state)`` rebuilds this space."""
        return [(b.name, dict(b.vocabulary), b.idf) for b in self._blocks]
