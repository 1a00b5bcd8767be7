"""A small digit classifier, trained with minigan itself, whose features and class probabilities the sample-quality
metrics are computed from (FID-LeNet, the classifier score, precision/recall, stacked-MNIST modes).

The Inception network behind the usual FID sees natural photographs; for 28x28 digits a LeNet-style network trained
on the digits themselves gives features that separate what matters there (which digit, how it is drawn) and takes
seconds to train. The network:

    image (1, 28, 28) -> conv 5x5, 16 maps, stride 2 -> ReLU -> conv 5x5, 32 maps, stride 2 -> ReLU
        -> linear 1568 -> 128 -> ReLU  (the features)  -> linear 128 -> 10  (the logits)

Stride-2 convolutions do the downsampling that LeNet's pooling layers did. `load_classifier` trains it once per
(data set, steps, seed), caches the weights under the data cache folder (MINIGAN_CACHE, else ~/.cache/minigan) and
reads them back on later calls, so every evaluation of the same data set uses the same network.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy
from tqdm import tqdm

import minigan as mg
import minigan.nn.functional as F
from minigan import nn, serialization
from minigan.data import load
from minigan.data.idx import find_file, idx_file_names
from minigan.files import cache_dir
from minigan.tensor import Tensor

VERSION = 1  # bump when the network, the data or the training change, so that old cached weights are not reused
DATASETS = ("mnist", "fashion-mnist", "digits")
DEFAULT_STEPS = 3000
NUM_FEATURES = 128
_BATCH = 64
_LR = 1e-3
_SHIFT = 2  # training images are shifted by up to this many pixels on each axis (augmentation)
_TRAIN, _HELD_OUT = 8000, 2000  # images of a file data set used for training, and held out at its end


class DigitClassifier(nn.Module):
    """A LeNet-style classifier of 28x28 gray digits into 10 classes.

    Inputs are (N, C, H, W) images in [-1, 1] (white strokes on black, as minigan.data loads them):
    - 28x28 as they are; 32x32 (digits padded by 2 pixels, as the 32x32 data sets are) cropped to their centre
      28x28; 64x64 (the 32x32 images enlarged twice) averaged over 2x2 blocks to 32x32, then cropped;
    - one channel, or three, which are averaged into one gray channel (exact for MNIST's repeated gray channel; for
      coloured digits the mean of the three channels keeps the strokes brighter than the background). To classify
      channels separately, as stacked MNIST needs, pass each channel on its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, stride=2, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, NUM_FEATURES)
        self.fc2 = nn.Linear(NUM_FEATURES, 10)
        self.accuracy: float | None = None  # held-out accuracy, set by load_classifier

    @staticmethod
    def prepare(x: Tensor) -> Tensor:
        """The images as (N, 1, 28, 28): channels averaged, 64x64 halved, 32x32 cropped (see the class doc)."""
        if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[2] != x.shape[3] or x.shape[2] not in (28, 32, 64):
            raise ValueError(f"DigitClassifier: expected images (N, 1 or 3, S, S) with S 28, 32 or 64, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        if x.shape[2] == 64:
            x = x.reshape(x.shape[0], 1, 32, 2, 32, 2).mean((3, 5))
        if x.shape[2] == 32:
            x = x[:, :, 2:30, 2:30]
        return x

    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer's activations (N, 128), after its ReLU: what FID and precision/recall compare."""
        h = F.relu(self.conv1(self.prepare(x)))
        h = F.relu(self.conv2(h))
        return F.relu(self.fc1(h.reshape(h.shape[0], -1)))

    def forward(self, x: Tensor) -> Tensor:
        """The class logits (N, 10)."""
        return self.fc2(self.features(x))


# ---- applying a classifier to many images ----
def _batches(clf: nn.Module, images, batch: int, progress: bool, what: str):
    """Yields the images batch by batch as float32 Tensors on the classifier's device."""
    if batch < 1:
        raise ValueError(f"{what}: batch must be at least 1, got {batch}")
    device = next(iter(clf.parameters()), Tensor(numpy.zeros(0))).device
    n = len(images)
    for start in tqdm(range(0, n, batch), desc=what, unit="batch", disable=not progress or n <= batch, leave=False):
        part = images[start:start + batch]
        part = part.detach() if isinstance(part, Tensor) else mg.tensor(numpy.asarray(part, dtype=numpy.float32))
        yield part.to(device).float()


def predict_proba(clf: nn.Module, images: numpy.ndarray | Tensor, batch: int = 500, *,
                  progress: bool = False) -> numpy.ndarray:
    """p(y | x) for each image: softmax of clf's logits, (N, 10) float64 rows that sum to 1."""
    out = []
    with mg.no_grad():
        for part in _batches(clf, images, batch, progress, "classify"):
            logits = clf(part).numpy().astype(numpy.float64)
            logits -= logits.max(axis=1, keepdims=True)
            p = numpy.exp(logits)
            out.append(p / p.sum(axis=1, keepdims=True))
    return numpy.concatenate(out) if out else numpy.zeros((0, 10))


def extract_features(clf: DigitClassifier, images: numpy.ndarray | Tensor, batch: int = 500, *,
                     progress: bool = False) -> numpy.ndarray:
    """clf.features of each image, (N, F) float64 (float64 so that covariances of many samples stay accurate)."""
    out = []
    with mg.no_grad():
        for part in _batches(clf, images, batch, progress, "features"):
            out.append(clf.features(part).numpy().astype(numpy.float64))
    return numpy.concatenate(out) if out else numpy.zeros((0, NUM_FEATURES))


def accuracy(clf: nn.Module, images: numpy.ndarray | Tensor, labels: numpy.ndarray) -> float:
    """The fraction of images whose most probable class is their label."""
    return float(numpy.mean(predict_proba(clf, images).argmax(axis=1) == numpy.asarray(labels)))


# ---- training and the cache ----
def _mnist_like(dataset: str, data_dir) -> tuple[tuple, tuple, str]:
    """(train images, labels), (held-out images, labels) and the split read: the first 8,000 images of the training
    file when the folder has it, else of the test file, and the file's last 2,000 (or a fifth of a smaller file)."""
    if data_dir is None:
        raise FileNotFoundError(f"load_classifier({dataset!r}): no data_dir given; pass the folder that holds the "
                                f"{dataset} IDX files (for example ../shared/data/mnist)")
    split = _source(dataset, data_dir)
    try:
        data = load(dataset, data_dir, split=split)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"load_classifier({dataset!r}): cannot read the {dataset} images: {error}") from None
    n = len(data)
    held_out = min(_HELD_OUT, n // 5)
    train = min(_TRAIN, n - held_out)
    return (data.x[:train], data.y[:train]), (data.x[n - held_out:], data.y[n - held_out:]), split


def _source(dataset: str, data_dir) -> str:
    """What the classifier of a data set is trained on: 'rendered' digits, or the 'train' or 'test' split of the
    files (the training split when data_dir has it)."""
    if dataset == "digits":
        return "rendered"
    has_train = data_dir is not None and os.path.isdir(data_dir) and find_file(os.fspath(data_dir),
                                                                                 idx_file_names("train")[0])
    return "train" if has_train else "test"


def _training_data(dataset: str, data_dir) -> tuple[tuple, tuple, str]:
    if dataset == "digits":  # rendered: a training set and an independent test set, both from the data cache
        train, test = load("digits", n=_TRAIN), load("digits", n=_HELD_OUT, split="test")
        return (train.x, train.y), (test.x, test.y), "rendered"
    return _mnist_like(dataset, data_dir)


def _shifted(x: numpy.ndarray, rng: numpy.random.Generator) -> numpy.ndarray:
    """Each (1, 28, 28) image moved by a random whole number of pixels in [-_SHIFT, _SHIFT] on each axis."""
    n, _, h, w = x.shape
    padded = numpy.pad(x, ((0, 0), (0, 0), (_SHIFT, _SHIFT), (_SHIFT, _SHIFT)), constant_values=-1.0)
    dy, dx = rng.integers(0, 2 * _SHIFT + 1, size=(2, n))
    rows = dy[:, None, None] + numpy.arange(h)[None, :, None]
    cols = dx[:, None, None] + numpy.arange(w)[None, None, :]
    return padded[numpy.arange(n)[:, None, None], 0, rows, cols][:, None]


def train_classifier(images: numpy.ndarray, labels: numpy.ndarray, steps: int = DEFAULT_STEPS, seed: int = 0,
                     progress: bool = False) -> DigitClassifier:
    """A DigitClassifier trained on (images, labels): `steps` Adam updates on random batches of 64 shifted images,
    cross-entropy loss, the learning rate decaying from 1e-3 to 0 along a half cosine. The seed fixes the initial
    weights, the batches and the shifts; minigan's global random state is left as it was."""
    rng = numpy.random.default_rng(seed)
    saved = mg.get_rng_state()
    try:
        mg.manual_seed(seed)
        clf = DigitClassifier()
    finally:
        mg.set_rng_state(saved)
    images = numpy.asarray(DigitClassifier.prepare(mg.tensor(images)).numpy(), dtype=numpy.float32)
    optimizer = mg.optim.Adam(clf.parameters(), lr=_LR)
    clf.train()
    for step in tqdm(range(steps), desc="train classifier", unit="step", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = _LR * 0.5 * (1 + numpy.cos(numpy.pi * step / steps))
        index = rng.integers(0, len(images), size=_BATCH)
        loss = F.cross_entropy(clf(mg.tensor(_shifted(images[index], rng))), mg.tensor(labels[index]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return clf.eval()


def classifier_path(dataset: str, steps: int, seed: int, source: str) -> str:
    """The cache file of one trained classifier (source: the split or 'rendered' it was trained on)."""
    return os.path.join(cache_dir(), f"classifier-v{VERSION}-{dataset}-{source}-steps{steps}-seed{seed}.safetensors")


def _read_cached(path: str) -> DigitClassifier | None:
    if not os.path.exists(path):
        return None
    try:
        content = serialization.load(path)
        if not (isinstance(content, dict) and content.get("format") == "minigan-classifier"
                and content.get("version") == VERSION):
            raise ValueError("not a cached classifier of this version")
        clf = DigitClassifier()
        clf.load_state_dict(content["state"])
        clf.accuracy = float(content["accuracy"])
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        warnings.warn(f"load_classifier: ignoring the cache file {path} ({error}); training again", stacklevel=3)
        return None
    return clf.eval()


def load_classifier(dataset: str = "mnist", data_dir: str | os.PathLike | None = None, *, steps: int = DEFAULT_STEPS,
                    seed: int = 0, progress: bool = False) -> DigitClassifier:
    """The DigitClassifier of a data set, in eval mode, with its held-out accuracy as `.accuracy`.

    dataset: 'mnist' or 'fashion-mnist' (IDX files in data_dir; trained on the first 8,000 images of the training
    file, or of the test file when the folder has only that, and scored on the file's last 2,000) or 'digits'
    (rendered: 8,000 training digits, scored on 2,000 of the independent test stream).
    The first call trains it (steps Adam updates; the defaults reach about 99% on MNIST in under a minute on two
    cores) and saves the weights and accuracy atomically under the cache folder, keyed by data set, steps, seed
    and VERSION; later calls read that file. Raises FileNotFoundError when the data files are missing.
    """
    if dataset not in DATASETS:
        raise ValueError(f"load_classifier: dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"load_classifier: steps must be a positive int, got {steps!r}")
    path = classifier_path(dataset, steps, seed, _source(dataset, data_dir))
    cached = _read_cached(path)
    if cached is not None:
        return cached
    (x, y), (x_held, y_held), source = _training_data(dataset, data_dir)
    start = time.perf_counter()
    clf = train_classifier(x, y, steps, seed, progress)
    seconds = time.perf_counter() - start
    clf.accuracy = accuracy(clf, x_held, y_held)
    content = {"format": "minigan-classifier", "version": VERSION, "dataset": dataset, "source": source,
               "steps": steps, "seed": seed, "accuracy": clf.accuracy, "train_seconds": seconds,
               "state": clf.state_dict()}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        serialization.save(content, path)
    except OSError as error:
        warnings.warn(f"load_classifier: could not write the cache file {path} ({error}); continuing without it",
                      stacklevel=2)
    return clf


__all__ = ["DigitClassifier", "accuracy", "extract_features", "load_classifier", "predict_proba", "train_classifier"]
