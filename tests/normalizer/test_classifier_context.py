"""The classifier's signals beyond the words (context, amounts, dates) and its scores on the
hand-written held-out set ``tests/fixtures/classifier/heldout.jsonl``.

The held-out set was written outside the generator and its templates and is never trained
on; training is deterministic for a seed, so its scores are a fixed property of the shipped
data, asserted against the floor the issue sets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import normalizer.classifier.training as training
from normalizer.classifier import PRIORITIES, Classifier, evaluate
from normalizer.classifier.__main__ import main as cli_main
from normalizer.classifier.dataset import read_examples
from normalizer.classifier.signals import NO_CONTEXT, SIGNALS, MessageContext, signals
from normalizer.entities import extract_entities
from normalizer.text import classifier_text

HELDOUT = Path(__file__).resolve().parent.parent / "fixtures" / "classifier" / "heldout.jsonl"
RANK = {p: len(PRIORITIES) - i for i, p in enumerate(PRIORITIES)}  # urgent 4 … low 1
KEY, SMALL = MessageContext(tier="key"), MessageContext(tier="small")
PLAIN_REQUESTS = [
    "Nhờ gửi lại file hóa đơn tháng 9 giúp em",
    "Cho em xin báo giá 50 cuộn dây điện 2.5mm",
    "đơn hàng tuần trước khi nào giao vậy e",
    "Nhờ kiểm tra lại công nợ tháng 10",
]


@pytest.fixture(scope="module")
def clf(shipped_training: tuple[training.TrainReport, Classifier]) -> Classifier:
    return shipped_training[1]


def fired(text: str, context: MessageContext = NO_CONTEXT) -> set[str]:
    return {SIGNALS[i] for i in signals(classifier_text(text), extract_entities(text), context)}


def upper(clf: Classifier, text: str, context: MessageContext = NO_CONTEXT) -> float:
    """Probability that `text` is high or urgent."""
    p = clf.probabilities([text], [context])["priority"][0]
    return float(p[PRIORITIES.index("urgent")] + p[PRIORITIES.index("high")])


# --- the held-out set -----------------------------------------------------------------


def test_the_heldout_set_is_large_varied_and_not_from_the_generator() -> None:
    examples = read_examples([HELDOUT])
    assert len(examples) >= 300
    assert {e.priority for e in examples} == set(PRIORITIES)
    assert sum(e.context != MessageContext() for e in examples) >= 50
    trained_on = {json.loads(line)["text"] for name in ("train.jsonl", "test.jsonl")
                  for line in (Path(__file__).resolve().parents[2] / "normalizer" / "data" / name)
                  .read_text(encoding="utf-8").splitlines()}
    assert not trained_on & {e.text for e in examples}


def test_the_shipped_model_meets_the_floor_on_the_heldout_set(clf: Classifier) -> None:
    data = evaluate(clf, HELDOUT).to_json()
    assert data["priority"]["accuracy"] >= 0.75
    assert data["stripped"]["priority"]["accuracy"] >= 0.75
    assert data["category"]["macro_f1"] >= 0.85
    assert data["sentiment"]["accuracy"] >= 0.80


def test_cli_eval_reads_the_context_of_each_line(clf: Classifier, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    line = {"text": "Cho em xin báo giá 50 cuộn dây điện 2.5mm", "channel": "zalo",
            "category": "price", "priority": "high", "sentiment": "neutral"}
    data = tmp_path / "two.jsonl"
    data.write_text(json.dumps({**line, "tier": "key"}, ensure_ascii=False) + "\n"
                    + json.dumps({**line, "tier": "small"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    model = tmp_path / "m.joblib"
    clf.save(model)
    assert cli_main(["eval", str(data), "--model", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["priority"]["accuracy"] == 0.5


# --- context ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", PLAIN_REQUESTS)
def test_a_key_accounts_request_ranks_above_a_small_accounts(clf: Classifier, text: str) -> None:
    assert clf.classify(text, "zalo", SMALL).priority == "normal"
    assert clf.classify(text, "zalo", KEY).priority == "high"
    assert upper(clf, text, KEY) > upper(clf, text) >= upper(clf, text, SMALL) - 0.05


@pytest.mark.parametrize("text", PLAIN_REQUESTS)
def test_a_repeated_contact_ranks_above_a_first_one(clf: Classifier, text: str) -> None:
    first = clf.classify(text, "zalo", MessageContext(repeat=0)).priority
    again = clf.classify(text, "zalo", MessageContext(repeat=2)).priority
    assert (first, again) == ("normal", "high")
    assert upper(clf, text, MessageContext(repeat=2)) > upper(clf, text, MessageContext(repeat=1))
    assert upper(clf, text, MessageContext(repeat=1)) > upper(clf, text)


def test_thanks_stay_low_whoever_sends_them(clf: Classifier) -> None:
    for context in (KEY, MessageContext(repeat=1)):
        assert clf.classify("Cảm ơn em nhiều nhé, chúc cả team cuối tuần vui vẻ", "zalo",
                            context).priority == "low"


def test_a_missed_call_is_a_callback_at_least_high(clf: Classifier) -> None:
    text = "Gọi lại cho khách số 0903 112 456"
    missed = MessageContext(missed_call=True)
    assert clf.classify(text, "hotline", missed).priority in ("high", "urgent")
    assert upper(clf, text, missed) > upper(clf, text) + 0.3


def test_an_amount_at_stake_weighs_more_the_larger_it_is(clf: Classifier) -> None:
    base = "Nhờ kiểm tra lại công nợ tháng 10, chênh lệch {}"
    small, large, huge = (upper(clf, base.format(a)) for a in ("85.000đ", "85.000.000đ",
                                                               "1,2 tỷ"))
    assert small < large < huge


def test_a_named_deadline_makes_a_request_high(clf: Classifier) -> None:
    request = "Nhờ gửi biên bản đối chiếu công nợ"
    assert clf.classify(request, "email").priority == "normal"
    for deadline in ("trước 16h", "trước ngày 5/12", "trong hôm nay"):
        assert clf.classify(f"{request} {deadline}", "email").priority == "high", deadline


def test_classify_many_reads_contexts_like_classify(clf: Classifier) -> None:
    contexts = (KEY, SMALL, MessageContext(repeat=1))
    items = [(t, "zalo", c) for t in PLAIN_REQUESTS for c in contexts]
    pairs = [(t, "zalo", MessageContext()) for t in PLAIN_REQUESTS]
    for batch, one_by_one in ((clf.classify_many(items), [clf.classify(*i) for i in items]),
                              (clf.classify_many([(t, c) for t, c, _ in pairs]),
                               [clf.classify(t, c) for t, c, _ in pairs])):
        assert [(b.priority, b.category, b.sentiment) for b in batch] == [
            (o.priority, o.category, o.sentiment) for o in one_by_one]
        for b, o in zip(batch, one_by_one, strict=True):
            assert b.priority_confidence == pytest.approx(o.priority_confidence, abs=1e-9)


# --- signals and the file format ------------------------------------------------------------


def test_signals_fire_on_context_amounts_dates_and_hours() -> None:
    assert fired("xin báo giá") == set()
    assert fired("xin báo giá", KEY) == {"key_account"}
    assert fired("xin báo giá", SMALL) == {"small_account"}
    assert fired("xin báo giá", MessageContext(repeat=1)) == {"repeat"}
    assert fired("xin báo giá", MessageContext(repeat=3)) == {"repeat", "repeat_many"}
    assert fired("xin báo giá", MessageContext(missed_call=True)) == {"missed_call"}
    assert fired("chênh 500.000đ") == {"amount"}
    assert fired("chênh 46 triệu") == {"amount", "amount_10m"}
    assert fired("chenh 1,2 ty") == {"amount", "amount_10m", "amount_100m"}
    assert fired("cần trước 17h hôm nay") == {"hour", "date"}
    assert fired("giao ngày 12/06") == {"date"}
    assert fired("máy 15kW, ống D110, 2.5mm") == set()


def test_context_fields_are_optional_and_checked(tmp_path: Path) -> None:
    base = ('{"text": "xin báo giá", "channel": "zalo", "category": "price", '
            '"priority": "normal", "sentiment": "neutral"')
    good = tmp_path / "good.jsonl"
    good.write_text(f'{base}}}\n{base}, "tier": "key", "repeat": 2, "missed_call": false}}\n'
                    f'{base}, "tier": null}}\n', encoding="utf-8")
    assert [e.context for e in read_examples([good])] == [
        MessageContext(), MessageContext(tier="key", repeat=2), MessageContext()]
    for bad, reason in ((', "tier": "vip"', "unknown tier"), (', "repeat": -1', "non-negative"),
                        (', "repeat": true', "'repeat' must be an integer"),
                        (', "missed_call": "yes"', "'missed_call' must be true or false")):
        path = tmp_path / "bad.jsonl"
        path.write_text(f"{base}}}\n{base}{bad}}}\n", encoding="utf-8")
        with pytest.raises(ValueError, match=reason) as e:
            read_examples([path])
        assert f"{path}:2" in str(e.value)
