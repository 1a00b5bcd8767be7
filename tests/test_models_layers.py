"""Minibatch discrimination and virtual batch norm (Salimans et al. 2016): shapes, what they compute against
NumPy, the batch (in)dependence each is for, and gradient checks in float64."""

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.models.layers import MinibatchDiscrimination, ReferenceBatch, VirtualBatchNorm
from minigan.testing import gradcheck


def t64(a, requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- minibatch discrimination ----
def test_minibatch_discrimination_matches_numpy(rng):
    layer = MinibatchDiscrimination(6, out_features=4, kernel_dims=3).double()
    x = rng.standard_normal((5, 6))
    out = layer(t64(x)).numpy()
    assert out.shape == (5, 6 + 4)
    m = (x @ layer.T.numpy()).reshape(5, 4, 3)
    expected = np.zeros((5, 4))
    for i in range(5):
        for j in range(5):
            expected[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
    np.testing.assert_array_equal(out[:, :6], x)
    np.testing.assert_allclose(out[:, 6:], expected, rtol=1e-12)


def test_minibatch_features_tell_a_collapsed_batch_from_a_diverse_one(rng):
    layer = MinibatchDiscrimination(8, out_features=5, kernel_dims=4)
    one = rng.standard_normal((1, 8)).astype(np.float32)
    identical = mg.tensor(np.repeat(one, 6, axis=0))
    diverse = mg.tensor(np.concatenate([one, rng.standard_normal((5, 8)).astype(np.float32)]))
    same, mixed = layer(identical).numpy()[:, 8:], layer(diverse).numpy()[:, 8:]
    np.testing.assert_allclose(same, 6.0, rtol=1e-6)  # every distance 0: each closeness is the batch size
    assert np.all(mixed[0] < same[0] - 1e-3)  # the same sample, among different ones, looks less crowded


def check_parameter_gradient(fn, param, rng, eps=1e-6):
    """The gradient of <gy, fn()> with respect to a parameter against a central difference along a random
    direction, moving the parameter's array in place."""
    out = fn()
    gy = rng.standard_normal(out.shape)
    (g,) = mg.grad((out * t64(gy)).sum(), [param])
    v = rng.standard_normal(param.shape)
    base = param.data.copy()
    values = []
    for sign in (1, -1):
        param.data[...] = base + sign * eps * v
        values.append(float(np.vdot(fn().numpy(), gy)))
    param.data[...] = base
    numeric = (values[0] - values[1]) / (2 * eps)
    assert float(np.vdot(g.numpy(), v)) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_minibatch_discrimination_gradcheck(rng):
    layer = MinibatchDiscrimination(4, out_features=3, kernel_dims=2).double()
    x = t64(rng.standard_normal((5, 4)), requires_grad=True)
    gradcheck(layer, [x])
    check_parameter_gradient(lambda: layer(x.detach()), layer.T, rng)


def test_minibatch_discrimination_rejects_wrong_features():
    with pytest.raises(ValueError, match=r"features of shape \(N, 6\)"):
        MinibatchDiscrimination(6)(mg.zeros(3, 5))


# ---- virtual batch norm ----
def vbn_numpy(h, r, gamma, beta, eps=1e-5):
    """The reference rows normalised by their own statistics, every other row by those of the reference batch
    with that row added to it."""
    ref = h[:r]
    axes = (0,) + tuple(range(2, h.ndim))
    out = np.empty_like(h)
    mu, var = ref.mean(axes, keepdims=True), ref.var(axes, keepdims=True)
    out[:r] = (ref - mu) / np.sqrt(var + eps)
    for i in range(r, h.shape[0]):
        joined = np.concatenate([ref, h[i:i + 1]])
        # each reference sample and the new one count equally: statistics over joined, all positions
        mu, var = joined.mean(axes, keepdims=True), joined.var(axes, keepdims=True)
        out[i] = ((h[i:i + 1] - mu) / np.sqrt(var + eps))[0]
    shape = (1, -1) + (1,) * (h.ndim - 2)
    return out * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape", [(7, 3), (6, 2, 3, 3)])
def test_virtual_batch_norm_matches_numpy(shape, rng):
    layer = VirtualBatchNorm(shape[1], reference_size=4).double()
    gamma, beta = 1 + 0.1 * rng.standard_normal(shape[1]), 0.1 * rng.standard_normal(shape[1])
    layer.weight.data[...], layer.bias.data[...] = gamma, beta
    h = rng.standard_normal(shape) * 2 + 1
    out = layer(t64(h))
    assert out.shape == shape
    np.testing.assert_allclose(out.numpy(), vbn_numpy(h, 4, gamma, beta), rtol=1e-10, atol=1e-12)


def test_virtual_batch_norm_output_of_a_sample_does_not_depend_on_its_batch(rng):
    """Unlike BatchNorm, where the same sample comes out differently beside different companions."""
    net = ReferenceBatch(nn.Sequential(nn.Linear(3, 4), VirtualBatchNorm(4, reference_size=8)),
                         mg.tensor(rng.standard_normal((8, 3)).astype(np.float32)))
    plain = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = rng.standard_normal((1, 3)).astype(np.float32)
    batch_a = mg.tensor(np.concatenate([x, rng.standard_normal((4, 3)).astype(np.float32)]))
    batch_b = mg.tensor(np.concatenate([x, 5 + rng.standard_normal((9, 3)).astype(np.float32)]))
    np.testing.assert_allclose(net(batch_a).numpy()[0], net(batch_b).numpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net(mg.tensor(x)).numpy()[0], net(batch_a).numpy()[0], rtol=1e-5, atol=1e-6)
    assert np.abs(plain(batch_a).numpy()[0] - plain(batch_b).numpy()[0]).max() > 0.1


@pytest.mark.parametrize("shape", [(5, 2), (5, 2, 2, 3)])
def test_virtual_batch_norm_gradcheck(shape, rng):
    """Through the input's rows, the reference rows (whose statistics every output uses) included."""
    layer = VirtualBatchNorm(2, reference_size=3).double()
    layer.weight.data[...], layer.bias.data[...] = 1 + 0.1 * rng.standard_normal(2), 0.1 * rng.standard_normal(2)
    h = t64(rng.standard_normal(shape), requires_grad=True)
    gradcheck(layer, [h])
    for param in (layer.weight, layer.bias):
        check_parameter_gradient(lambda: layer(h.detach()), param, rng)
    (g,) = mg.grad((layer(h)[3:] ** 2).sum(), [h])  # a loss on the non-reference rows only
    assert np.abs(g.numpy()[:3]).max() > 1e-6  # reaches the reference rows through the statistics


def test_virtual_batch_norm_needs_rows_beyond_the_reference():
    with pytest.raises(ValueError, match="reference batch"):
        VirtualBatchNorm(3, reference_size=4)(mg.zeros(4, 3))


def test_reference_batch_is_saved_and_moves_with_the_module():
    ref = mg.randn(5, 3)
    net = ReferenceBatch(nn.Sequential(nn.Linear(3, 2), VirtualBatchNorm(2, reference_size=5)), ref)
    assert "reference" in net.state_dict()
    np.testing.assert_array_equal(net.state_dict()["reference"].numpy(), ref.numpy())
    net.double()
    assert net(mg.randn(2, 3, dtype=mg.float64)).dtype == mg.float64
