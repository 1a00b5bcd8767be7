"""The digit classifier behind the image metrics: input handling, batched prediction, training, the weights cache."""

import os
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import serialization
from minigan.data import load
from minigan.data.dataset import pad_to
from minigan.metrics import classifier
from minigan.metrics.classifier import (
    NUM_FEATURES,
    DigitClassifier,
    accuracy,
    classifier_path,
    extract_features,
    load_classifier,
    predict_proba,
)

MNIST = Path(os.environ.get("MINIGAN_MNIST", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
STEPS = 200  # enough for the rendered digits in tests; the default is what real MNIST needs


@pytest.fixture(scope="module")
def clf():
    return load_classifier("digits", steps=STEPS)


@pytest.fixture(scope="module")
def digits():
    return load("digits", n=300, split="test", seed=3)


def test_shapes_and_the_32_and_64_pixel_inputs_match_28(digits):
    net = DigitClassifier()
    x = mg.tensor(digits.x[:16])
    assert net.features(x).shape == (16, NUM_FEATURES) and net(x).shape == (16, 10)
    padded = mg.tensor(pad_to(digits.x[:16], 32))  # the 32x32 data sets pad the 28x28 digits with black
    np.testing.assert_array_equal(net(padded).numpy(), net(x).numpy())
    enlarged = mg.tensor(np.repeat(np.repeat(padded.numpy(), 2, axis=2), 2, axis=3))
    np.testing.assert_allclose(net(enlarged).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-5)
    gray3 = mg.tensor(np.repeat(digits.x[:16], 3, axis=1))
    np.testing.assert_allclose(net(gray3).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-5)
    features = net.features(x).numpy()
    assert (features >= 0).all() and (features > 0).any()  # after the ReLU


@pytest.mark.parametrize("shape", [(2, 28, 28), (2, 2, 28, 28), (2, 1, 30, 30), (2, 1, 28, 32)])
def test_unsupported_shapes_name_the_classifier(shape):
    with pytest.raises(ValueError, match="DigitClassifier"):
        DigitClassifier()(mg.zeros(*shape))


def test_batched_prediction_and_features_do_not_depend_on_the_batch(digits):
    net = DigitClassifier()
    x = digits.x[:50]
    p = predict_proba(net, x, batch=500)
    assert p.shape == (50, 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(predict_proba(net, mg.tensor(x), batch=7), p, rtol=1e-6, atol=1e-9)
    logits = net(mg.tensor(x)).numpy().astype(np.float64)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, expected / expected.sum(axis=1, keepdims=True), rtol=1e-6)
    f = extract_features(net, x, batch=13)
    assert f.shape == (50, NUM_FEATURES) and f.dtype == np.float64
    np.testing.assert_allclose(f, net.features(mg.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
    assert extract_features(net, x[:0]).shape == (0, NUM_FEATURES)
    with pytest.raises(ValueError, match="batch"):
        predict_proba(net, x, batch=0)


def test_the_trained_digits_classifier_is_accurate_and_reports_its_held_out_accuracy(clf, digits):
    assert not clf.training
    held_out = load("digits", n=2000, split="test")  # what load_classifier holds out for the digits
    assert clf.accuracy == pytest.approx(accuracy(clf, held_out.x, held_out.y))
    assert clf.accuracy > 0.9
    assert accuracy(clf, digits.x, digits.y) > 0.9  # another draw of the test stream
    saved = serialization.load(classifier_path("digits", STEPS, 0, "rendered"))
    assert saved["accuracy"] == clf.accuracy and saved["steps"] == STEPS and saved["dataset"] == "digits"


def test_the_cached_weights_are_reused(clf, digits, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("load_classifier trained again instead of reading its cache")

    monkeypatch.setattr(classifier, "train_classifier", no_training)
    again = load_classifier("digits", steps=STEPS)
    assert again is not clf and again.accuracy == clf.accuracy and not again.training
    np.testing.assert_array_equal(predict_proba(again, digits.x), predict_proba(clf, digits.x))


def test_training_follows_the_seed_and_leaves_the_global_random_state(digits):
    mg.manual_seed(5)
    expected = mg.randn(4).numpy()
    mg.manual_seed(5)
    a = load_classifier("digits", steps=3, seed=1)
    np.testing.assert_array_equal(mg.randn(4).numpy(), expected)
    b = classifier.train_classifier(*_train_set(), steps=3, seed=1)
    c = classifier.train_classifier(*_train_set(), steps=3, seed=2)
    np.testing.assert_array_equal(predict_proba(a, digits.x), predict_proba(b, digits.x))
    assert not np.allclose(predict_proba(b, digits.x), predict_proba(c, digits.x))
    assert os.path.exists(classifier_path("digits", 3, 1, "rendered"))


def _train_set():
    data = load("digits", n=8000)
    return data.x, data.y


def test_an_unreadable_cache_file_is_replaced(digits):
    path = classifier_path("digits", 2, 0, "rendered")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"not an archive")
    with pytest.warns(UserWarning, match="ignoring the cache file"):
        clf = load_classifier("digits", steps=2)
    assert serialization.load(path)["accuracy"] == clf.accuracy


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist"):
        load_classifier("mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load_classifier("mnist")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_classifier("cifar10")
    with pytest.raises(ValueError, match="steps"):
        load_classifier("digits", steps=0)


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="needs ../shared/data/mnist")
@pytest.mark.filterwarnings("ignore:mnist. no training split:UserWarning")
def test_the_default_mnist_classifier_reaches_97_percent_held_out():
    clf = load_classifier("mnist", MNIST)
    assert clf.accuracy >= 0.97
    data = load("mnist", MNIST, split=classifier._source("mnist", MNIST))  # the file it was trained from
    assert clf.accuracy == pytest.approx(accuracy(clf, data.x[-2000:], data.y[-2000:]))
