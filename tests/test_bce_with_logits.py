"""bce_with_logits: every variant of kernels/bce_with_logits on every device present, against the reference; the
reference against PyTorch; and F.binary_cross_entropy_with_logits through each variant, against finite
differences (first and second derivatives, in the logits and in the targets).

Each loss element is a sum of two terms, (1 - t) softplus(x) and t softplus(-x), each computed to a few units in
the last place; the mean or the sum adds them in double. So the check is |actual - expected| <= rtol
(|expected| + floor), the floor the sum of the terms' magnitudes (the gradient's: |g| (sigmoid(x) + |t|)).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan as mg
import minigan.nn.functional as F
from minigan import dispatch
from minigan.testing import assert_close, assert_same_bits, check_function, host, place, untouched
from minigan.testing.strategies import arrays, dtypes, layouts, seeds, shapes

OPERATOR = "bce_with_logits"
REDUCTIONS = ["mean", "sum", "none"]
reference = dispatch.kernel(OPERATOR, "reference")


def softplus(x):
    return np.logaddexp(0, x)


def terms(x, t) -> np.ndarray:
    """|(1 - t) softplus(x)| + |t softplus(-x)| in float64: the size of what each loss element adds."""
    x, t = x.astype(np.float64), t.astype(np.float64)
    return np.abs(1 - t) * softplus(x) + np.abs(t) * softplus(-x)


def draw(seed: int, shape: tuple, dtype: str):
    """Logits of any sign and size up to 30 (deep in both tails), targets in [0, 1] with exact 0s and 1s."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.choice([1.0, 5.0, 30.0], shape)
    t = np.where(rng.random(shape) < 0.5, rng.integers(0, 2, shape), rng.random(shape))
    return x.astype(dtype), t.astype(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes(0, 3, 1, 6), dtype=dtypes(), layout=st.tuples(layouts(), layouts()), seed=seeds())
def test_matches_the_reference(variant, device, reduction, shape, dtype, layout, seed):
    x, t = draw(seed, shape, dtype)
    gy = np.random.default_rng(seed + 1).standard_normal(() if reduction != "none" else shape).astype(dtype)
    kernel = dispatch.kernel(OPERATOR, variant)
    x_d, t_d, gy_d = place(x, device, layout[0]), place(t, device, layout[1]), place(gy, device)
    with untouched(x_d, t_d, gy_d):
        loss = kernel.forward(x_d, t_d, reduction)
        gx = kernel.backward(x_d, t_d, gy_d, reduction)
    n = max(x.size, 1)
    floor = {"none": terms(x, t), "sum": terms(x, t).sum(), "mean": terms(x, t).sum() / n}[reduction]
    assert_close(loss, reference.forward(x, t, reduction), floor, f"{reduction} loss", device=device)
    g = np.abs(gy.astype(np.float64)) / (n if reduction == "mean" else 1)
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert_close(gx, reference.backward(x, t, gy, reduction), g * (sig + np.abs(t)), f"{reduction} gradient",
                 device=device)


def test_runs_are_bit_reproducible(variant, device):
    kernel = dispatch.kernel(OPERATOR, variant)
    x, t = draw(0, (1000,), "float32")
    x_d, t_d, gy = place(x, device), place(t, device), place(np.float32(1.5), device)
    for reduction in REDUCTIONS:
        runs = [[kernel.forward(x_d, t_d, reduction), kernel.backward(x_d, t_d, gy if reduction != "none" else
                                                                       place(x, device), reduction)]
                for _ in range(2)]
        for k, (a, b) in enumerate(zip(*runs, strict=True)):
            assert_same_bits(a, b, f"{reduction} output {k}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes(1, 3, 1, 5), dtype=dtypes(), seed=seeds())
def test_reference_against_torch(torch_cpu, reduction, shape, dtype, seed):
    """PyTorch computes (1 - t) x + softplus(-x), whose terms cancel where x << 0 and t = 0 (its error there is a
    rounding of |x|, not of the loss, which the reference keeps to full precision): the floor adds |x|."""
    x, t = draw(seed, shape, dtype)
    x_t = torch_cpu.tensor(x, requires_grad=True)
    y_t = torch_cpu.nn.functional.binary_cross_entropy_with_logits(x_t, torch_cpu.tensor(t), reduction=reduction)
    gy = np.random.default_rng(seed).standard_normal(tuple(y_t.shape)).astype(dtype)
    y_t.backward(torch_cpu.tensor(gy))
    n = x.size
    size = terms(x, t) + np.abs(x.astype(np.float64))
    floor = {"none": size, "sum": size.sum(), "mean": size.sum() / n}[reduction]
    assert_close(reference.forward(x, t, reduction), y_t.detach().numpy(), floor, "loss")
    g = np.abs(gy.astype(np.float64)) / (n if reduction == "mean" else 1)
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert_close(reference.backward(x, t, gy, reduction), x_t.grad.numpy(), g * (sig + np.abs(t)), "gradient")


# ---- through minigan.nn.functional ----

def numpy_loss(reduction):
    def loss(x, t):
        elements = (1 - t) * softplus(x) + t * softplus(-x)
        return {"none": elements, "sum": elements.sum(), "mean": elements.mean()}[reduction].astype(x.dtype)

    return loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradients(variant, device, selected, reduction):
    """The loss, and its first and second derivatives in the logits and in the targets, in every layout."""
    pairs = shapes(0, 3, 1, 4).flatmap(lambda s: st.tuples(arrays(s), arrays(s)))
    check_function(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), numpy_loss(reduction),
                   pairs, device=device, max_examples=25)


def test_one_kernel_computes_the_loss_and_one_its_gradient(variant, device, selected):
    """No weights: the loss is one node of the graph, and its gradient another (both on the forward's variant)."""
    x = mg.tensor(np.linspace(-3, 3, 8), device=device, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, mg.ones_like(x))
    assert type(loss.grad_fn).__name__ == "BCEWithLogitsFunction" and loss.grad_fn.variant == variant
    (gx,) = mg.grad(loss, x, create_graph=True)
    assert type(gx.grad_fn).__name__ == "BCEWithLogitsGrad"
    np.testing.assert_allclose(host(gx.data), (1 / (1 + np.exp(-np.linspace(-3, 3, 8))) - 1) / 8, rtol=1e-12)
