"""Labelled messages: the JSON-lines format, and the files the project ships.

One message per line: ``{"text", "channel", "category", "priority", "sentiment"}``, every
label one of :mod:`normalizer.classifier.labels`, and optionally the message's context (see
:class:`~normalizer.classifier.signals.MessageContext`): ``"tier"`` (``key``, ``standard``,
``small`` or null), ``"repeat"`` (earlier unanswered messages on the same ticket, an integer
≥ 0) and ``"missed_call"`` (true or false); absent means no context. Other keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from normalizer.classifier.labels import CHANNELS, FIELDS, LABELS
from normalizer.classifier.signals import NO_CONTEXT, MessageContext

__all__ = ["Example", "read_examples", "shipped_data_paths", "shipped_test_path", "to_example"]

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    text: str
    channel: str
    category: str
    priority: str
    sentiment: str
    context: MessageContext = NO_CONTEXT

    def label(self, field: str) -> str:
        """The label of `field` (``category``, ``priority`` or ``sentiment``)."""
        value: str = getattr(self, field)
        return value


def to_example(record: Mapping[str, object], where: str = "record") -> Example:
    """`record` as an :class:`Example`; raises ``ValueError`` naming `where` if a field
    is missing, not a string, or not a known label or channel, or if a context field is
    malformed."""
    values: dict[str, str] = {}
    for key in ("text", "channel", *FIELDS):
        value = record.get(key)
        if not isinstance(value, str):
            raise ValueError(f"{where}: {key!r} must be a string, got {value!r}")
        values[key] = value
    if not values["text"].strip():
        raise ValueError(f"{where}: empty text")
    if values["channel"] not in CHANNELS:
        raise ValueError(f"{where}: unknown channel {values['channel']!r}")
    for field in FIELDS:
        if values[field] not in LABELS[field]:
            raise ValueError(f"{where}: unknown {field} {values[field]!r}")
    return Example(**values, context=_context(record, where))


def _context(record: Mapping[str, object], where: str) -> MessageContext:
    tier, repeat, missed = record.get("tier"), record.get("repeat", 0), record.get("missed_call")
    if tier is not None and not isinstance(tier, str):
        raise ValueError(f"{where}: 'tier' must be a string or null, got {tier!r}")
    if isinstance(repeat, bool) or not isinstance(repeat, int):
        raise ValueError(f"{where}: 'repeat' must be an integer, got {repeat!r}")
    if missed is not None and not isinstance(missed, bool):
        raise ValueError(f"{where}: 'missed_call' must be true or false, got {missed!r}")
    try:
        return MessageContext(tier=tier, repeat=repeat, missed_call=bool(missed))
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


def read_examples(paths: Iterable[Path]) -> list[Example]:
    """Every line of every file in `paths`, in order; blank lines are skipped. Raises
    ``ValueError`` with the file and line number on the first malformed line."""
    examples: list[Example] = []
    for path in paths:
        with Path(path).open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{where}: not JSON: {e}") from e
                if not isinstance(record, dict):
                    raise ValueError(f"{where}: expected a JSON object")
                examples.append(to_example(record, where))
    return examples


def shipped_data_paths() -> list[Path]:
    """The training files shipped with the package."""
    return [_DATA_DIR / "train.jsonl"]


def shipped_test_path() -> Path:
    """The held-back evaluation file shipped with the package (never used for training)."""
    return _DATA_DIR / "test.jsonl"
