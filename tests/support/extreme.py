"""Hypothesis strategies that build a provider payload from its pydantic model, with values at
and past the edges of every field's type: empty and enormous text, ids at and over their
length limit, Unix times of 10^20 and 21-digit strings, ISO times in the years 1 and 9999 with
offsets, URLs that are not URLs, numbers past 64 bits, NUL characters, deep nesting.

``payloads(model, fixed)`` draws a JSON object for ``model``: every required field, any of the
optional ones, nested models built the same way, each field mostly an ordinary value of its
kind and sometimes an extreme one; ``fixed`` pins fields (``"Model.field"``, then always
present) to a strategy of their own, so that the events that matter (a message, a hang-up)
are drawn often enough to reach the code behind them.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from connectors.payloads import EMBEDDED_JSON

Strategy = st.SearchStrategy[Any]


def nested(levels: int) -> Any:
    """A value ``levels`` objects and lists deep."""
    value: Any = 1
    for level in range(levels):
        value = [value] if level % 2 else {"v": value}
    return value


TEXTS: Strategy = st.one_of(
    st.sampled_from([
        "", " ", "\t\n", "0", "null", "💥", "a" * 65, "a" * 201, "a" * 301, "x" * 20_001,
        "b" * 70_000, "\x00", "a\x00b", "\u202e", "\U0010ffff", "\ufeff", "<b>x</b>",
        "9999-12-31T23:59:59-01:00", "http://[", "1" * 4300,
    ]),
    st.text(st.characters(exclude_characters="\x00"), max_size=40),  # NUL: just above
)
IDS_EXTREME: Strategy = st.sampled_from([
    "", " ", "a" * 199, "a" * 200, "a" * 201, "a" * 256, "a" * 257, "a" * 512, "a" * 513,
    10**20, 2**64, -1, "\x00", "💥" * 100,
])
URLS_EXTREME: Strategy = st.sampled_from([
    "http://[", "http://[::1", "https://", "//cdn.example.vn/a.png", "ftp://x.vn/a.png",
    "https://x.vn:99999/a", "https://x.vn/" + "a" * 2049, "javascript:alert(1)", "", " ",
    "http://exa mple.com/a", "http://\u2100.com/", "https://[::1]/a.png",
])
INTS: Strategy = st.one_of(
    st.sampled_from([
        -1, 2**63, 2**64, 10**20, 10**100, 10**4299, -(10**20), "1" * 21, "9" * 30, "-5",
        "1e3", "", 1.5, 253402300800000, 40_000_000_000, 10**19,
    ]),
    st.integers(),
)
FLOATS: Strategy = st.one_of(
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, float("inf"), float("nan"), 10**20]),
    st.floats(),
)
TIMES: Strategy = st.sampled_from([
    "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00+07:00",
    "0001-01-01T00:00:00-12:00", "2999-12-31T23:59:59-23:59", "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999+00:00", "2026-11-27T09:15:40", "2026-02-30T00:00:00Z", "",
    10**20, "1" * 21,
])


def weighted(common: Strategy, rare: Strategy, times: int = 4) -> Strategy:
    """``common`` about ``times`` draws in ``times + 1``, else ``rare``.

    Not ``one_of``: it flattens nested ``one_of``s into one list of distinct branches, which
    weighs them by their count. The rare pick is a middle value of the drawn index, because
    Hypothesis draws the ends of a range more often than the rest.
    """
    return st.integers(0, times).flatmap(lambda i: rare if i == times // 2 else common)


WORDS = st.text(alphabet="abcdđeghiklmnoôơpqrstuưvxy 0123456789", min_size=1, max_size=24)
JSON: Strategy = weighted(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | WORDS,
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(WORDS, inner, max_size=3), max_leaves=8),
    st.sampled_from([nested(25), nested(33), nested(199), {"a\x00": 1}, [10**4299], 1e308,
                     {"text": "\x00"}]))
IDS = st.integers(1, 10**18).map(str) | st.text(alphabet="abcdef0123456789_-", min_size=1,
                                                max_size=40)
URLS = st.sampled_from(["https://cdn.example.vn/f/a.png", "https://zalo.me/f/Báo giá.pdf",
                        "http://img.example.com/x?sig=1&e=2"])
MILLIS = st.integers(1_700_000_000_000, 1_900_000_000_000)
ISO = st.sampled_from(["2026-11-27T09:15:40+07:00", "2026-11-27T02:15:40Z"])
RATE = 3
"""A field is extreme in about one draw in ``RATE + 1``, ordinary in the others: so that an
event mostly gets past its first fields to the code behind them."""


def _kind(name: str, annotation: Any) -> tuple[Strategy, Strategy] | None:
    """(ordinary, extreme) values for a field called ``name`` (``None``: the type's own)."""
    lowered = name.lower()
    if "url" in lowered:
        return URLS, URLS_EXTREME
    if annotation is datetime or lowered.endswith("_at"):
        return ISO, TIMES
    if annotation is int and ("time" in lowered or lowered == "timestamp"):
        return MILLIS, INTS
    if annotation is int:
        return st.integers(0, 100_000), INTS
    if annotation is float:
        return st.floats(-90, 90), FLOATS
    if annotation is str:
        if lowered.endswith("id") or lowered.endswith("_sn"):
            return IDS, IDS_EXTREME
        if "email" in lowered:
            return st.just("hoa@abc.vn"), TEXTS
        return WORDS, TEXTS
    return None


def _of(annotation: Any, metadata: list[Any], fixed: Mapping[str, Strategy],
        name: str = "") -> Strategy:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = get_args(annotation)
        return _of(base, [*metadata, *extra], fixed, name)
    if origin in (Union, types.UnionType):
        return st.one_of(*(_of(a, metadata, fixed, name) for a in get_args(annotation)))
    if annotation is type(None):
        return st.none()
    if origin is Literal:
        return weighted(st.sampled_from(get_args(annotation)), TEXTS)
    if origin in (list, tuple):
        (item, *_) = get_args(annotation)
        return weighted(st.lists(_of(item, [], fixed, name), min_size=1, max_size=3), JSON)
    if origin is dict:
        return weighted(st.dictionaries(WORDS, JSON, max_size=3), JSON)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        model = payloads(annotation, fixed)
        if EMBEDDED_JSON in metadata:  # a JSON text inside the body (Lazada, TikTok)
            return weighted(model.map(lambda v: json.dumps(v)), TEXTS | JSON)
        return weighted(model, JSON, times=9)
    if annotation is bool:
        return weighted(st.booleans(), st.sampled_from(["true", 1, 0, None]))
    kind = _kind(name, annotation)
    if kind is None:
        return weighted(WORDS, TEXTS | INTS | JSON, RATE)  # Any
    return weighted(*kind, RATE)


def _field(model: type[BaseModel], name: str, info: FieldInfo,
           fixed: Mapping[str, Strategy]) -> Strategy:
    pinned = fixed.get(f"{model.__name__}.{name}")
    if pinned is not None:
        return pinned
    return _of(info.annotation, list(info.metadata), fixed, name)


def payloads(model: type[BaseModel], fixed: Mapping[str, Strategy] | None = None) -> Strategy:
    """JSON objects for ``model`` with extreme values in every field (see the module doc)."""
    fixed = fixed or {}
    required: dict[str, Strategy] = {}
    optional: dict[str, Strategy] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        strategy = _field(model, name, info, fixed)
        always = info.is_required() or f"{model.__name__}.{name}" in fixed
        (required if always else optional)[key] = strategy
    extra = weighted(st.just({}), st.dictionaries(st.sampled_from(["x_trace", "meta"]), JSON,
                                                  min_size=1, max_size=1), times=9)
    return st.builds(lambda base, more: {**more, **base},
                     st.fixed_dictionaries(required, optional=optional), extra)
