"""minigan.nn layers against torch.nn: the same constructor call, the same weights (copied with
load_state_dict, no reshaping), the same forward, backward and double backward; state_dict keys, reprs and
default initialisations as PyTorch's.

Each layer is built by one function `make(nn)` called once with torch.nn and once with minigan.nn, so the
constructor signatures are checked too. Double backward: s = sum of |g|^2 over the first gradients g (taken
with create_graph=True), differentiated with respect to the input, gy and every parameter.
"""

import numpy as np
import pytest

import minigan as mg
from minigan import nn

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def assert_close(actual, expected, rtol, what=""):
    """Elementwise |a - e| <= rtol * (|e| + scale), scale = max(max|e|, 1): values are of order one, so rounding
    errors are of order rtol times the largest value or one (the floor covers results that are exactly zero)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def randomize(layer, rng):
    """Draw every parameter and buffer of a torch layer at random (positive variances, a few tracked batches),
    so that no parameter is trivially 1 or 0."""
    with torch.no_grad():
        for name, t in layer.state_dict(keep_vars=True).items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_var"):
                t.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, t.shape)))
            else:
                t.copy_(torch.from_numpy(rng.standard_normal(t.shape)))


def pair(make, dtype, train=True, seed=0):
    """(minigan layer, torch layer) built by make, in dtype, with the torch layer's random state copied across."""
    theirs = make(torch.nn).to(TORCH_DTYPE[dtype]).train(train)
    randomize(theirs, np.random.default_rng(seed))
    mine = make(nn).to(dtype).train(train)
    result = mine.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    return mine, theirs


def derivatives(framework, layer, x, gy):
    """y, the first gradients of <gy, y> and the gradients of s = sum |first|^2, as NumPy arrays."""
    params = [p for _, p in layer.named_parameters()]
    inputs = ([x] if x.requires_grad else []) + params
    y = layer(x)
    if framework is torch:
        first = torch.autograd.grad(y, inputs, gy, create_graph=True)
        s = sum((g * g).sum() for g in first)
        second = torch.autograd.grad(s, inputs + [gy], allow_unused=True, materialize_grads=True)
        return [t.detach().numpy() for t in (y, *first, *second)]
    first = mg.grad(y, inputs, gy, create_graph=True)
    s = sum((g * g).sum() for g in first)
    second = mg.grad(s, inputs + [gy], allow_unused=True)
    second = [np.zeros(t.shape) if g is None else g.numpy() for g, t in zip(second, inputs + [gy])]
    return [y.numpy(), *(g.numpy() for g in first), *second]


def check_layer(make, x, dtype, train=True, seed=0):
    """Forward, every first and second derivative, and the state after one call, minigan against torch."""
    mine, theirs = pair(make, dtype, train, seed)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    x = np.asarray(x, dtype=dtype) if np.asarray(x).dtype.kind == "f" else np.asarray(x)
    x_t = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    x_m = mg.tensor(x, requires_grad=x.dtype.kind == "f")
    gy = np.random.default_rng(seed + 1).standard_normal(theirs(x_t).shape).astype(dtype)
    with torch.no_grad():  # the extra call above moved the running statistics: start both from the same state
        randomize(theirs, np.random.default_rng(seed))
    expected = derivatives(torch, theirs, x_t, torch.tensor(gy, requires_grad=True))
    actual = derivatives(mg, mine, x_m, mg.tensor(gy, requires_grad=True))
    assert actual[0].dtype == np.dtype(dtype)
    assert len(actual) == len(expected)
    for k, (a, e) in enumerate(zip(actual, expected)):
        assert_close(a, e, RTOL[dtype], f"{mine!r}: result {k}")
    state_m, state_t = mine.state_dict(), theirs.state_dict()
    assert list(state_m) == list(state_t)
    for key in state_t:
        assert state_m[key].dtype == state_t[key].numpy().dtype, key
        assert_close(state_m[key].numpy(), state_t[key].numpy(), RTOL[dtype], f"{mine!r}: {key} after one call")


LAYERS = {
    "linear": (lambda nn: nn.Linear(5, 3), (4, 5)),
    "linear-3d-nobias": (lambda nn: nn.Linear(5, 3, bias=False), (2, 3, 5)),
    "conv": (lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 7)),
    "conv-rect-dilated": (lambda nn: nn.Conv2d(2, 3, (3, 2), (1, 2), (2, 0), (2, 1), bias=False), (2, 2, 6, 5)),
    "convT": (lambda nn: nn.ConvTranspose2d(3, 2, 4, 2, 1), (2, 3, 4, 4)),
    "convT-outpad": (lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 2, 3, 4)),
    "convT-dilated": (lambda nn: nn.ConvTranspose2d(2, 3, (2, 3), 1, (1, 0), 0, 1, False, 2), (2, 2, 4, 3)),
    "leaky_relu": (lambda nn: nn.LeakyReLU(0.2), (3, 4, 5)),
    "leaky_relu-default": (lambda nn: nn.LeakyReLU(), (3, 4)),
    "relu": (lambda nn: nn.ReLU(), (3, 4, 5)),
    "tanh": (lambda nn: nn.Tanh(), (3, 4)),
    "sigmoid": (lambda nn: nn.Sigmoid(), (3, 4)),
    "flatten": (lambda nn: nn.Flatten(), (2, 3, 2, 2)),
    "flatten-range": (lambda nn: nn.Flatten(0, 2), (2, 3, 2, 2)),
    "unflatten": (lambda nn: nn.Unflatten(1, (2, 3, 2)), (2, 12)),
    "unflatten-negative": (lambda nn: nn.Unflatten(-1, [3, -1]), (2, 2, 6)),
}

BATCHNORMS = {
    "bn1d": (lambda nn: nn.BatchNorm1d(3), (6, 3)),
    "bn1d-3d": (lambda nn: nn.BatchNorm1d(3, eps=1e-3, momentum=0.3), (4, 3, 5)),
    "bn2d": (lambda nn: nn.BatchNorm2d(3), (4, 3, 3, 3)),
    "bn2d-cumulative": (lambda nn: nn.BatchNorm2d(3, momentum=None), (4, 3, 2, 3)),
    "bn2d-no-affine": (lambda nn: nn.BatchNorm2d(3, affine=False), (4, 3, 2, 2)),
    "bn2d-no-bias": (lambda nn: nn.BatchNorm2d(3, bias=False), (4, 3, 2, 2)),
    "bn2d-no-running-stats": (lambda nn: nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 2, 2)),
    "bn1d-bare": (lambda nn: nn.BatchNorm1d(2, affine=False, track_running_stats=False), (5, 2)),
    "bn2d-stats-frozen": (lambda nn: frozen(nn.BatchNorm2d(3)), (4, 3, 2, 2)),
}


def frozen(bn):
    """A BatchNorm told after construction to stop tracking: its running statistics stay as they are in
    training and are still used in evaluation."""
    bn.track_running_stats = False
    return bn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch(name, dtype):
    make, shape = LAYERS[name]
    check_layer(make, np.random.default_rng(2).standard_normal(shape), dtype)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BATCHNORMS)
def test_batchnorm_matches_torch(name, dtype, train):
    make, shape = BATCHNORMS[name]
    x = 1.5 + 2 * np.random.default_rng(3).standard_normal(shape)  # statistics far from the running ones
    check_layer(make, x, dtype, train)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch(dtype):
    indices = np.array([[0, 3, 3, 9], [9, 1, 0, 3]])  # repeated rows: their gradients add up
    check_layer(lambda nn: nn.Embedding(10, 4), indices, dtype)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("name", ["bn1d", "bn2d"])
def test_batchnorm_running_statistics_over_steps(name, momentum):
    """Several training steps on different batches, then evaluation: running statistics, the batch count and
    the evaluation output follow PyTorch's (momentum=None: the cumulative average of the batches)."""
    cls, shape = {"bn1d": ("BatchNorm1d", (5, 3, 4)), "bn2d": ("BatchNorm2d", (4, 3, 3, 2))}[name]
    theirs = getattr(torch.nn, cls)(3, momentum=momentum).double()
    mine = getattr(nn, cls)(3, momentum=momentum).double()
    rng = np.random.default_rng(4)
    for step in range(5):
        x = rng.normal(step, 1 + step, shape)
        assert_close(mine(mg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), 1e-10)
    assert int(mine.num_batches_tracked) == int(theirs.num_batches_tracked) == 5
    for key in ("running_mean", "running_var"):
        assert_close(getattr(mine, key).numpy(), getattr(theirs, key).numpy(), 1e-10, key)
    mine.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    assert_close(mine(mg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), 1e-10)
    assert int(mine.num_batches_tracked) == 5


def dcgan(nn):
    """A small DCGAN-style stack: generator blocks, then discriminator blocks."""
    return nn.Sequential(
        nn.ConvTranspose2d(6, 8, 4, 1, 0, bias=False), nn.BatchNorm2d(8), nn.ReLU(True),
        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(True),
        nn.Conv2d(4, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), nn.LeakyReLU(0.2, inplace=True),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 3), nn.Tanh(), nn.Unflatten(1, (3, 1)),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_dcgan_stack_matches_torch(dtype):
    check_layer(dcgan, np.random.default_rng(5).standard_normal((3, 6, 1, 1)), dtype)


def test_state_dict_keys_order_shapes_and_dtypes_as_torch():
    mine, theirs = dcgan(nn), dcgan(torch.nn)
    state_m, state_t = mine.state_dict(), theirs.state_dict()
    assert list(state_m) == list(state_t)
    for key, value in state_t.items():
        assert state_m[key].shape == tuple(value.shape), key
        assert state_m[key].dtype == value.numpy().dtype, key
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in mine.named_modules()] == [n for n, _ in theirs.named_modules()]


def test_shared_modules_listed_as_torch():
    def tied(nn):
        block = nn.Linear(3, 3)
        return nn.Sequential(block, nn.ReLU(), block, nn.Sequential(block, nn.BatchNorm1d(3)))

    mine, theirs = tied(nn), tied(torch.nn)
    for method in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert [n for n, _ in getattr(mine, method)()] == [n for n, _ in getattr(theirs, method)()], method
    assert list(mine.state_dict()) == list(theirs.state_dict())


def test_repr_as_torch():
    def layers(nn):
        return nn.Sequential(
            dcgan(nn),
            nn.Linear(4, 2, bias=False),
            nn.Conv2d(2, 3, (3, 5), stride=(2, 1), padding=(1, 2), dilation=2),
            nn.ConvTranspose2d(3, 2, 4, 2, 1, output_padding=1, bias=False, dilation=3),
            nn.BatchNorm1d(4, momentum=None, affine=False, track_running_stats=False),
            nn.BatchNorm2d(5, eps=1e-3, bias=False),
            nn.Embedding(10, 3), nn.Dropout(0.25), nn.Dropout(), nn.Flatten(0, 2), nn.Unflatten(-1, [2, 2]),
            nn.Sigmoid(), nn.ReLU(), nn.LeakyReLU(),
        )

    assert repr(layers(nn)) == repr(layers(torch.nn))
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("conv_transpose2d", None), ("sigmoid", None), ("tanh", None),
    ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None),
])
def test_calculate_gain_as_torch(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize("make", [
    lambda nn: nn.Linear(300, 5000),
    lambda nn: nn.Conv2d(16, 5000, 3),
    lambda nn: nn.ConvTranspose2d(32, 5000, 2),  # fan_in from weight.size(1) = out_channels, as PyTorch
    lambda nn: nn.Embedding(400, 50),
], ids=["linear", "conv", "convT", "embedding"])
def test_default_init_distribution_as_torch(make):
    """Each parameter's distribution agrees with PyTorch's default: the quantiles of |w| (which tell a uniform
    of a given bound from a normal of the same spread) within 3% of the largest |w|, and a mean near zero."""
    torch.manual_seed(0)
    mine, theirs = make(nn), make(torch.nn)
    for (name, p_m), (_, p_t) in zip(mine.named_parameters(), theirs.named_parameters()):
        a, b = p_m.numpy(), p_t.detach().numpy()
        assert a.shape == b.shape, name
        q = [0.25, 0.5, 0.75, 0.99]
        np.testing.assert_allclose(np.quantile(np.abs(a), q), np.quantile(np.abs(b), q), rtol=0,
                                   atol=0.03 * np.abs(b).max(), err_msg=name)
        assert abs(a.mean()) < 0.1 * b.std(), name
