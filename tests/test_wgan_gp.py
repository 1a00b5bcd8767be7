"""A WGAN-GP critic step against PyTorch: the gradient penalty needs the gradient of a gradient.

The critic's loss is D(fake).mean() - D(real).mean() + 10 mean((||dD(x_hat)/dx_hat||_2 - 1)^2) on
x_hat = a real + (1 - a) fake. Its weight gradients pass through conv2d's input gradient (a transposed
convolution), its weight gradient Function and leaky ReLU's gradient, each differentiated once more.

Without PyTorch, the interpolates of minigan's gradient_penalty are checked on their own.
"""

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan.models.wgan import gradient_penalty

try:
    import torch
except ImportError:
    torch = None
else:
    TF = torch.nn.functional
    torch.set_num_threads(1)
needs_torch = pytest.mark.skipif(torch is None, reason="needs PyTorch")

RTOL = 1e-7
LAMBDA = 10.0


def assert_close(actual, expected, what):
    expected = expected.detach().numpy()
    scale = max(float(np.abs(expected).max()), 1e-300)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def critic_params(head: str, batch_norm: bool, rng) -> dict:
    params = {"w1": 0.3 * rng.standard_normal((4, 2, 3, 3)), "w2": 0.3 * rng.standard_normal((3, 4, 4, 4)),
              "b2": 0.1 * rng.standard_normal(3)}
    if batch_norm:  # no bias before batch norm: its gradient would be zero
        params["gamma"], params["beta"] = 1 + 0.1 * rng.standard_normal(4), 0.1 * rng.standard_normal(4)
    else:
        params["b1"] = 0.1 * rng.standard_normal(4)
    if head == "linear":
        params["w3"], params["b3"] = 0.3 * rng.standard_normal((1, 27)), 0.1 * rng.standard_normal(1)
    return params


def critic(module, p: dict, x, head: str, running=(None, None)):
    """conv 3x3 s1 p1 -> [batch norm] -> leaky ReLU 0.2 -> conv 4x4 s2 p1 -> sum or linear: one score a sample."""
    h = module.conv2d(x, p["w1"], p.get("b1"), stride=1, padding=1)
    if "gamma" in p:
        h = module.batch_norm(h, running[0], running[1], p["gamma"], p["beta"], training=True)
    h = module.leaky_relu(h, 0.2)
    h = module.conv2d(h, p["w2"], p["b2"], stride=2, padding=1)
    h = h.reshape(h.shape[0], -1)
    return h.sum(1) if head == "sum" else module.linear(h, p["w3"], p["b3"]).reshape(-1)


def critic_loss(module, grad, p: dict, real, fake, alpha, head: str, running=(None, None)):
    x_hat = alpha * real + (1 - alpha) * fake
    (g,) = grad(critic(module, p, x_hat, head, running).sum(), x_hat, create_graph=True)
    norms = ((g * g).reshape(g.shape[0], -1).sum(1) + 1e-12) ** 0.5
    penalty = LAMBDA * ((norms - 1) ** 2).mean()
    loss = critic(module, p, fake, head, running).mean() - critic(module, p, real, head, running).mean() + penalty
    return loss, penalty


def inputs(rng):
    real = rng.standard_normal((5, 2, 6, 6))
    fake = np.tanh(rng.standard_normal((5, 2, 6, 6)))
    alpha = rng.uniform(size=(5, 1, 1, 1))
    return real, fake, alpha


def both(params: dict, real, fake, alpha):
    """The same weights and data as minigan and as torch tensors; fake requires grad in both."""
    mine = {k: mg.tensor(v, requires_grad=True) for k, v in params.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    data_m = (mg.tensor(real), mg.tensor(fake, requires_grad=True), mg.tensor(alpha))
    data_t = (torch.tensor(real), torch.tensor(fake, requires_grad=True), torch.tensor(alpha))
    return mine, theirs, data_m, data_t


@needs_torch
@pytest.mark.parametrize("head", ["sum", "linear"])
def test_wgan_gp_critic_gradients_match_torch(head):
    rng = np.random.default_rng(0)
    params = critic_params(head, batch_norm=False, rng=rng)
    mine, theirs, data_m, data_t = both(params, *inputs(rng))

    loss_m, penalty_m = critic_loss(F, mg.grad, mine, *data_m, head)
    loss_t, penalty_t = critic_loss(TF, torch.autograd.grad, theirs, *data_t, head)
    assert penalty_t.item() > 1e-3  # the penalty is not negligible, so its gradient is tested
    assert_close(penalty_m, penalty_t, "penalty")
    assert_close(loss_m, loss_t, "loss")

    loss_m.backward()
    loss_t.backward()
    for name in params:
        assert_close(mine[name].grad, theirs[name].grad, f"gradient of {name}")
    assert_close(data_m[1].grad, data_t[1].grad, "gradient of the fake batch")


@needs_torch
def test_wgan_gp_penalty_gradient_alone_matches_torch():
    """The penalty term on its own: its whole gradient comes from the double backward."""
    rng = np.random.default_rng(1)
    params = critic_params("sum", batch_norm=False, rng=rng)
    mine, theirs, data_m, data_t = both(params, *inputs(rng))
    _, penalty_m = critic_loss(F, mg.grad, mine, *data_m, "sum")
    _, penalty_t = critic_loss(TF, torch.autograd.grad, theirs, *data_t, "sum")
    grads_m = mg.grad(penalty_m, [mine[k] for k in params] + [data_m[1]], allow_unused=True)
    grads_t = torch.autograd.grad(penalty_t, [theirs[k] for k in params] + [data_t[1]], allow_unused=True)
    for name, g_m, g_t in zip(list(params) + ["fake"], grads_m, grads_t):
        if name.startswith("b") or name == "fake":
            # this critic is piecewise linear, so dD/dx depends on neither the biases nor x_hat (leaky ReLU's
            # mask is piecewise constant): either framework may leave them out of the graph or give zero
            for g in (g_m, g_t):
                assert g is None or np.abs(g.numpy()).max() < 1e-12
        else:
            assert np.abs(g_t.numpy()).max() > 1e-3
            assert_close(g_m, g_t, f"penalty gradient of {name}")


@needs_torch
@pytest.mark.parametrize("head", ["sum", "linear"])
def test_wgan_gp_through_training_batch_norm(head):
    rng = np.random.default_rng(2)
    params = critic_params(head, batch_norm=True, rng=rng)
    mine, theirs, data_m, data_t = both(params, *inputs(rng))
    running_m = (mg.zeros(4, dtype=mg.float64), mg.ones(4, dtype=mg.float64))
    running_t = (torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))

    loss_m, penalty_m = critic_loss(F, mg.grad, mine, *data_m, head, running_m)
    loss_t, penalty_t = critic_loss(TF, torch.autograd.grad, theirs, *data_t, head, running_t)
    assert_close(penalty_m, penalty_t, "penalty")
    assert_close(loss_m, loss_t, "loss")
    loss_m.backward()
    loss_t.backward()
    for name in params:
        assert_close(mine[name].grad, theirs[name].grad, f"gradient of {name}")
    assert_close(data_m[1].grad, data_t[1].grad, "gradient of the fake batch")
    # three critic passes (x_hat, fake, real), each moving the running statistics
    assert_close(running_m[0], running_t[0], "running mean")
    assert_close(running_m[1], running_t[1], "running var")


@needs_torch
def test_wgan_gp_float32_matches_torch_to_float32_rounding():
    rng = np.random.default_rng(3)
    params = {k: v.astype(np.float32) for k, v in critic_params("linear", batch_norm=True, rng=rng).items()}
    real, fake, alpha = (a.astype(np.float32) for a in inputs(rng))
    mine, theirs, data_m, data_t = both(params, real, fake, alpha)
    loss_m, _ = critic_loss(F, mg.grad, mine, *data_m, "linear")
    loss_t, _ = critic_loss(TF, torch.autograd.grad, theirs, *data_t, "linear")
    loss_m.backward()
    loss_t.backward()
    for name in params:
        g_m, g_t = mine[name].grad.numpy(), theirs[name].grad.numpy()
        assert g_m.dtype == np.float32
        np.testing.assert_allclose(g_m, g_t, rtol=1e-4, atol=1e-4 * np.abs(g_t).max(), err_msg=name)


# ---- the interpolates ----

@pytest.mark.parametrize("shape", [(64, 2), (64, 2, 3, 3)], ids=["points", "images"])
def test_default_interpolates_mix_each_sample_with_one_weight_in_0_1(shape):
    """x_hat = alpha real + (1 - alpha) fake with one alpha per sample, drawn from [0, 1]: (x_hat - fake) / (real -
    fake) is that alpha at every element of the sample, and differs from sample to sample."""
    rng = np.random.default_rng(3)
    real, fake = mg.tensor(rng.standard_normal(shape)), mg.tensor(rng.standard_normal(shape) + 5)
    seen = []

    def critic(x):
        seen.append(x)
        return (x * x * x).reshape(x.shape[0], -1).sum(1)  # nonlinear: the penalty depends on where x_hat lies

    penalty = gradient_penalty(critic, real, fake, lam=10.0)
    (x_hat,) = seen
    ratio = ((x_hat - fake) / (real - fake)).numpy().reshape(shape[0], -1)
    alpha = ratio[:, :1]
    np.testing.assert_allclose(ratio, np.broadcast_to(alpha, ratio.shape), rtol=0, atol=1e-12)
    assert ((alpha >= 0) & (alpha <= 1)).all()
    assert len(np.unique(alpha)) == shape[0]  # a weight of its own for each sample, not one for the batch
    norms = np.sqrt(((3 * x_hat.numpy() ** 2) ** 2).reshape(shape[0], -1).sum(1))  # |d critic / d x_hat|
    np.testing.assert_allclose(penalty.item(), 10.0 * np.mean((norms - 1) ** 2), rtol=1e-12)
