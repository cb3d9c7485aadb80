"""The classifier trained once on the shipped data, for every test module that reads it."""

from __future__ import annotations

import pytest

import normalizer.classifier.training as training
from normalizer.classifier import Classifier, shipped_data_paths, train


@pytest.fixture(scope="session")
def shipped_training(tmp_path_factory: pytest.TempPathFactory
                     ) -> tuple[training.TrainReport, Classifier]:
    """The report of training on the shipped data (default seed) and the model it saved."""
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    report = train(shipped_data_paths(), path)
    return report, Classifier.load(path)
