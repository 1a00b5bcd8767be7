"""minigan.nn.init and the layers' default initialisations: ranges and statistics against the formulas.

With n draws, a sample standard deviation is within a few times 1/sqrt(2n) of the true one, so a 3%
tolerance on n >= 100,000 draws tells a right formula from a wrong fan or gain (those differ by 10% or more).
"""

import math

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.nn import init


def uniform_std(bound):
    return bound / math.sqrt(3)


def assert_uniform(t, bound, what=""):
    """t looks like U(-bound, bound): inside the bound, reaching near it, with a uniform's spread."""
    a = t.numpy()
    assert np.abs(a).max() <= bound, what
    assert np.abs(a).max() > 0.99 * bound, what
    assert abs(a.std() - uniform_std(bound)) < 0.03 * uniform_std(bound), what
    assert abs(a.mean()) < 0.03 * bound, what


def assert_normal(t, std, what=""):
    """t looks like N(0, std^2): its spread, and a tail beyond 3 std that a uniform would not have."""
    a = t.numpy()
    assert abs(a.std() - std) < 0.03 * std, what
    assert abs(a.mean()) < 0.03 * std, what
    assert np.abs(a).max() > 3.5 * std, what


def test_linear_default_init():
    layer = nn.Linear(1000, 300)
    assert_uniform(layer.weight, 1 / math.sqrt(1000), "weight")
    assert np.abs(layer.bias.numpy()).max() <= 1 / math.sqrt(1000)
    assert np.abs(layer.bias.numpy()).max() > 0.9 / math.sqrt(1000)


def test_conv_default_init():
    layer = nn.Conv2d(64, 128, 5)
    fan_in = 64 * 5 * 5
    assert layer.weight.shape == (128, 64, 5, 5)
    assert_uniform(layer.weight, 1 / math.sqrt(fan_in), "weight")
    assert np.abs(layer.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    assert np.abs(layer.bias.numpy()).max() > 0.9 / math.sqrt(fan_in)


def test_conv_transpose_default_init_takes_fan_in_from_weight_dimension_one():
    """PyTorch computes fan_in as weight.size(1) * kh * kw, which for (in, out, kh, kw) is out * kh * kw."""
    layer = nn.ConvTranspose2d(32, 256, 4)
    fan_in = 256 * 4 * 4
    assert layer.weight.shape == (32, 256, 4, 4)
    assert_uniform(layer.weight, 1 / math.sqrt(fan_in), "weight")
    assert np.abs(layer.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    assert np.abs(layer.bias.numpy()).max() > 0.9 / math.sqrt(fan_in)


def test_embedding_and_batchnorm_default_init():
    assert_normal(nn.Embedding(1000, 200).weight, 1.0)
    bn = nn.BatchNorm2d(5)
    for name, value in (("weight", 1), ("bias", 0), ("running_mean", 0), ("running_var", 1),
                        ("num_batches_tracked", 0)):
        np.testing.assert_array_equal(getattr(bn, name).numpy(), np.full(getattr(bn, name).shape, value))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_and_uniform(mode):
    w = mg.empty(500, 400)
    fan = 400 if mode == "fan_in" else 500
    init.kaiming_normal_(w, mode=mode, nonlinearity="relu")
    assert_normal(w, math.sqrt(2 / fan))
    init.kaiming_normal_(w, a=0.2, mode=mode)  # leaky_relu with slope 0.2
    assert_normal(w, math.sqrt(2 / (1 + 0.2**2)) / math.sqrt(fan))
    init.kaiming_uniform_(w, mode=mode, nonlinearity="tanh")
    assert_uniform(w, math.sqrt(3) * (5 / 3) / math.sqrt(fan))


def test_xavier_on_a_conv_weight_uses_the_receptive_field():
    w = mg.empty(64, 32, 3, 3)
    fan_in, fan_out = 32 * 9, 64 * 9
    init.xavier_uniform_(w, gain=2.0)
    assert_uniform(w, 2.0 * math.sqrt(6 / (fan_in + fan_out)))
    init.xavier_normal_(w)
    assert_normal(w, math.sqrt(2 / (fan_in + fan_out)))


def test_basic_fills():
    w = mg.empty(400, 300, dtype=mg.float64)
    init.uniform_(w, -3.0, 5.0)
    a = w.numpy()
    assert a.min() >= -3 and a.max() < 5 and abs(a.mean() - 1) < 0.05
    init.normal_(w, 2.0, 0.5)
    assert abs(w.numpy().mean() - 2) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    assert (init.constant_(w, 0.25).numpy() == 0.25).all()
    assert (init.ones_(w).numpy() == 1).all() and not init.zeros_(w).numpy().any()
    assert w.dtype == mg.float64


def test_init_works_on_parameters_with_grad_enabled_and_in_place():
    p = nn.Parameter(mg.zeros(10, 10))
    data = p.data
    assert init.kaiming_uniform_(p) is p
    assert p.data is data and p.requires_grad and np.abs(data).max() > 0


def test_init_draws_from_the_seeded_generator():
    a, b = mg.empty(50, 40), mg.empty(50, 40)
    mg.manual_seed(11)
    init.xavier_normal_(a)
    mg.manual_seed(11)
    init.xavier_normal_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_calculate_gain_formulas_and_errors():
    assert init.calculate_gain("leaky_relu", 0.3) == pytest.approx(math.sqrt(2 / (1 + 0.3**2)))
    assert init.calculate_gain("leaky_relu") == init.calculate_gain("leaky_relu", 0.01)
    assert init.calculate_gain("relu") == pytest.approx(init.calculate_gain("leaky_relu", 0))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(mg.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(mg.empty(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(mg.empty(0, 3))
