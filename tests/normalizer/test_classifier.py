"""The classifier: shipped data, training, prediction, evaluation and persistence.

The model is trained once for the session on the shipped data (a few seconds, conftest).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

import normalizer.classifier.training as training
from normalizer.classifier import (
    CATEGORIES,
    PRIORITIES,
    SENTIMENTS,
    Classification,
    Classifier,
    ModelFormatError,
    default_model_path,
    evaluate,
    shipped_data_paths,
    shipped_test_path,
    train,
)
from normalizer.classifier.__main__ import main as cli_main
from normalizer.classifier.dataset import read_examples
from normalizer.classifier.features import ANALYZERS, FeatureSpace
from normalizer.classifier.labels import FIELDS
from normalizer.data import generate
from normalizer.text import classifier_text, has_vietnamese_diacritics

CLEAR = [
    ("Hóa đơn số 0000123 bị sai mã số thuế, đề nghị xuất lại", "invoice"),
    ("Đơn hàng ĐH-2024-00123 đã quá hẹn giao 3 ngày mà chưa thấy đâu", "delivery"),
    ("Nhờ gửi biên bản đối chiếu công nợ đến hết tháng 6", "debt"),
    ("Máy nén khí còn trong thời hạn bảo hành không ạ?", "warranty"),
    ("Cho em xin báo giá 200 bộ ống nhựa PPR", "price"),
    ("Bên em đã chuyển khoản 12.500.000đ, nhờ xác nhận giúp", "payment_due"),
]


@pytest.fixture(scope="module")
def trained(shipped_training: tuple[training.TrainReport, Classifier]
            ) -> tuple[training.TrainReport, Classifier]:
    return shipped_training


@pytest.fixture(scope="module")
def clf(trained: tuple[training.TrainReport, Classifier]) -> Classifier:
    return trained[1]


# --- shipped data ---------------------------------------------------------------------


def test_shipped_data_is_valid_and_large_enough() -> None:
    train_set = read_examples(shipped_data_paths())
    test_set = read_examples([shipped_test_path()])
    train_counts = Counter(e.category for e in train_set)
    test_counts = Counter(e.category for e in test_set)
    assert set(train_counts) == set(CATEGORIES) == set(test_counts)
    assert min(train_counts.values()) >= 80
    assert min(test_counts.values()) >= 20
    assert not {e.text for e in train_set} & {e.text for e in test_set}
    for examples in (train_set, test_set):
        plain = sum(not has_vietnamese_diacritics(e.text) for e in examples)
        assert plain / len(examples) >= 0.3


def test_shipped_data_is_what_the_generator_produces() -> None:
    assert generate.main(["--check"]) == 0


# --- training ---------------------------------------------------------------------------


def test_train_report(trained: tuple[training.TrainReport, Classifier]) -> None:
    report, _ = trained
    assert report.examples == len(read_examples(shipped_data_paths()))
    assert set(report.per_category) == set(CATEGORIES)
    assert set(report.cross_validated) == set(FIELDS)
    json.dumps(report.to_json())
    assert "cross-validation" in report.format_text()


def test_training_is_deterministic(clf: Classifier, tmp_path: Path) -> None:
    again = Classifier.load_or_train(tmp_path / "missing" / "model.joblib")
    assert (tmp_path / "missing" / "model.joblib").exists()
    texts = [e.text for e in read_examples([shipped_test_path()])]
    first, second = clf.probabilities(texts), again.probabilities(texts)
    for field in FIELDS:
        np.testing.assert_allclose(first[field], second[field], rtol=0, atol=1e-9)
    assert clf.classify_many([(t, "zalo") for t in texts]) == again.classify_many(
        [(t, "zalo") for t in texts])


def test_officer_corrections_are_learnt(tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl"
    lines = [json.dumps({"text": e.text, "channel": e.channel, "category": e.category,
                         "priority": e.priority, "sentiment": e.sentiment}, ensure_ascii=False)
             for e in read_examples(shipped_data_paths())[::8]]
    small.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = "Kiểm tra giúp mã kích hoạt phần mềm ZX-9 bị khóa"
    correction = {"text": text, "channel": "email", "category": "usage", "priority": "high",
                  "sentiment": "neutral"}
    report = train([small], tmp_path / "m.joblib", extra=[correction] * 2)
    assert report.extra == 2
    result = Classifier.load(tmp_path / "m.joblib").classify(text, "email")
    assert (result.category, result.priority) == ("usage", "high")


def test_bad_training_line_is_reported_with_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "channel": "email", "category": "nope", "priority": "low", '
                   '"sentiment": "neutral"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: unknown category"):
        train([bad], tmp_path / "m.joblib")
    assert not (tmp_path / "m.joblib").exists()


def test_feature_space_matches_scikit_learn_tfidf() -> None:
    forms = [classifier_text(e.text) for e in read_examples(shipped_data_paths())[:200]]
    blocks, expected = [], []
    for name, analyzer in ANALYZERS.items():
        vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True).fit(forms)
        blocks.append((name, vec.vocabulary_, vec.idf_))
        expected.append(vec.transform(forms).toarray())
    space = FeatureSpace(blocks)
    ours = space.transform(forms).toarray()
    width = sum(len(v) for _, v, _ in blocks)
    np.testing.assert_allclose(ours[:, :width], np.hstack(expected), atol=1e-12)


# --- prediction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "channel"),
    [(text, "email") for text, _ in CLEAR]
    + [("hang loi het r shop oi 😡😡", "shopee"), ("tks e nhiều nha 👍", "zalo"), ("", "hotline"),
       ("KH gọi báo xưởng dừng sản xuất vì máy hỏng", "hotline"), ("?!", "webform")],
)
def test_classify_returns_valid_labels_and_confidences(
    clf: Classifier, text: str, channel: str
) -> None:
    r = clf.classify(text, channel)
    assert r.category in CATEGORIES
    assert r.priority in PRIORITIES
    assert r.sentiment in SENTIMENTS
    for confidence in (r.category_confidence, r.priority_confidence, r.sentiment_confidence):
        assert 0.0 <= confidence <= 1.0
    assert r.needs_review is (r.category_confidence < 0.5)
    json.dumps(r.entities)


@pytest.mark.parametrize(("text", "category"), CLEAR)
def test_clear_messages_get_their_category(clf: Classifier, text: str, category: str) -> None:
    r = clf.classify(text, "email")
    assert r.category == category
    assert not r.needs_review


@pytest.mark.parametrize(("text", "category"), CLEAR)
def test_no_diacritics_classifies_like_diacritics(
    clf: Classifier, text: str, category: str
) -> None:
    plain = generate.strip_marks(text)
    assert not has_vietnamese_diacritics(plain)
    a, b = clf.classify(text, "zalo"), clf.classify(plain, "zalo")
    assert (a.category, a.priority, a.sentiment) == (b.category, b.priority, b.sentiment)


@pytest.mark.parametrize("text", ["asdkjh qwe zzz", "xyzzy plugh", "lorem ipsum dolor sit amet"])
def test_gibberish_needs_review(clf: Classifier, text: str) -> None:
    assert clf.classify(text, "webform").needs_review


def test_urgent_and_positive_messages(clf: Classifier) -> None:
    stopped = clf.classify("Máy nén khí ngừng chạy, cả xưởng phải dừng sản xuất, cần kỹ thuật "
                           "tới ngay hôm nay!", "hotline")
    assert (stopped.category, stopped.priority, stopped.sentiment) == (
        "maintenance", "urgent", "negative")
    thanks = clf.classify("Cảm ơn anh kỹ thuật đã hỗ trợ nhiệt tình, máy chạy tốt rồi ạ 👍", "zalo")
    assert (thanks.priority, thanks.sentiment) == ("low", "positive")


def test_review_threshold_is_configurable(clf: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    clf.save(path)
    text = CLEAR[0][0]
    assert not Classifier.load(path).classify(text, "email").needs_review
    assert Classifier.load(path, review_threshold=1.01).classify(text, "email").needs_review
    assert not Classifier.load(path, review_threshold=0.0).classify("zzz", "email").needs_review


def test_classify_many_equals_classify(clf: Classifier) -> None:
    items = [(e.text, e.channel) for e in read_examples([shipped_test_path()])[:60]]
    batch = clf.classify_many(items)
    assert len(batch) == len(items)
    for one, (text, channel) in zip(batch, items, strict=True):
        single = clf.classify(text, channel)
        assert (one.category, one.priority, one.sentiment, one.needs_review, one.entities) == (
            single.category, single.priority, single.sentiment, single.needs_review,
            single.entities)
        assert one.category_confidence == pytest.approx(single.category_confidence, abs=1e-9)
    assert clf.classify_many([]) == []


def test_classification_is_a_frozen_value(clf: Classifier) -> None:
    r = clf.classify(CLEAR[0][0], "email")
    assert isinstance(r, Classification)
    with pytest.raises(AttributeError):
        r.category = "other"  # type: ignore[misc]
    assert r.entities["invoice_numbers"] == ["0000123"]


# --- evaluation -------------------------------------------------------------------------


def test_evaluation_report_format(clf: Classifier) -> None:
    report = evaluate(clf, shipped_test_path())
    data: dict[str, Any] = json.loads(json.dumps(report.to_json()))
    assert list(data) == ["category", "priority", "sentiment", "no_diacritics", "stripped",
                          "confusion", "count"]
    for scores in [data[f] for f in FIELDS] + [data["no_diacritics"][f] for f in FIELDS]:
        assert set(scores) == {"accuracy", "macro_f1"}
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in scores.values())
    assert set(data["no_diacritics"]) == set(FIELDS)
    assert data["confusion"]["labels"] == list(CATEGORIES)
    matrix = data["confusion"]["matrix"]
    assert len(matrix) == len(CATEGORIES) and all(len(row) == len(CATEGORIES) for row in matrix)
    assert sum(map(sum, matrix)) == data["count"] == report.count
    text = report.format_text()
    assert "macro-F1" in text and "no diacritics" in text and "quality" in text


def test_evaluation_meets_the_targets(clf: Classifier) -> None:
    data = evaluate(clf, shipped_test_path()).to_json()
    assert data["category"]["macro_f1"] >= 0.85
    assert data["priority"]["accuracy"] >= 0.75
    assert data["sentiment"]["accuracy"] >= 0.80
    assert data["no_diacritics"]["category"]["macro_f1"] >= data["category"]["macro_f1"] - 0.05


def test_cli_eval_json(clf: Classifier, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.joblib"
    clf.save(path)
    assert cli_main(["eval", str(shipped_test_path()), "--model", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == len(read_examples([shipped_test_path()]))


# --- persistence ------------------------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch, clf: Classifier) -> Iterator[list[Path]]:
    """Replace training by saving the module's model, recording where."""
    calls: list[Path] = []

    def fake_train(data_paths: object, out: Path, **kwargs: object) -> None:
        calls.append(out)
        clf.save(out)

    monkeypatch.setattr(training, "train", fake_train)
    yield calls


@pytest.mark.parametrize("content", [b"", b"not a joblib file", b"\x80\x04garbage"])
def test_load_or_train_replaces_an_unreadable_model(
    tmp_path: Path, no_training: list[Path], content: bytes
) -> None:
    path = tmp_path / "m.joblib"
    path.write_bytes(content)
    Classifier.load_or_train(path)
    assert no_training == [path]
    Classifier.load(path)


def test_load_or_train_keeps_a_good_model(
    clf: Classifier, tmp_path: Path, no_training: list[Path]
) -> None:
    path = tmp_path / "m.joblib"
    clf.save(path)
    Classifier.load_or_train(path)
    assert no_training == []


def test_load_rejects_other_joblib_files(tmp_path: Path) -> None:
    path = tmp_path / "other.joblib"
    joblib.dump({"format": "something-else"}, path)
    with pytest.raises(ModelFormatError):
        Classifier.load(path)
    with pytest.raises(FileNotFoundError):
        Classifier.load(tmp_path / "absent.joblib")


def test_default_model_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CSKH_MODEL_PATH", raising=False)
    assert default_model_path() == Path("cskh-model.joblib")
    monkeypatch.setenv("CSKH_MODEL_PATH", str(tmp_path / "x.joblib"))
    assert default_model_path() == tmp_path / "x.joblib"
