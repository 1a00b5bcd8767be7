"""The GAN objectives of minigan.models.objectives against the formulas written out in NumPy, in float64."""

import numpy as np
import pytest

import minigan as mg
from minigan.models.objectives import (
    OBJECTIVES,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    probability,
)


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def log_one_minus_sigmoid(x):
    return -np.logaddexp(0.0, x)


def expected_d_loss(real, fake, objective, real_label=1.0):
    """The discriminator's loss from its raw outputs, term by term."""
    if objective in ("nonsat", "minimax"):
        real_term = -(real_label * log_sigmoid(real) + (1 - real_label) * log_one_minus_sigmoid(real))
        return real_term.mean() - log_one_minus_sigmoid(fake).mean()
    if objective == "lsgan":
        return 0.5 * ((real - real_label) ** 2).mean() + 0.5 * (fake**2).mean()
    if objective == "hinge":
        return np.maximum(0, 1 - real).mean() + np.maximum(0, 1 + fake).mean()
    return fake.mean() - real.mean()


def expected_g_loss(fake, objective):
    if objective == "nonsat":
        return -log_sigmoid(fake).mean()
    if objective == "minimax":
        return log_one_minus_sigmoid(fake).mean()
    if objective == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()


def outputs(rng, n=7, scale=3.0):
    return scale * rng.standard_normal(n), scale * rng.standard_normal(n)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_losses_match_the_formulas(objective, rng):
    real, fake = outputs(rng)
    d = discriminator_loss(mg.tensor(real), mg.tensor(fake), objective)
    g = generator_loss(mg.tensor(fake), objective)
    np.testing.assert_allclose(d.item(), expected_d_loss(real, fake, objective), rtol=1e-12)
    np.testing.assert_allclose(g.item(), expected_g_loss(fake, objective), rtol=1e-12)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_loss_gradients_match_the_formulas(objective, rng):
    """d loss / d output, by central differences of the NumPy formula."""
    real, fake = outputs(rng, scale=2.0)
    r, f = mg.tensor(real, requires_grad=True), mg.tensor(fake, requires_grad=True)
    gr, gf = mg.grad(discriminator_loss(r, f, objective), [r, f])
    (gg,) = mg.grad(generator_loss(f, objective), [f])
    eps = 1e-6
    for k in range(len(real)):
        e = np.zeros_like(real)
        e[k] = eps
        numeric = [(expected_d_loss(real + e, fake, objective) - expected_d_loss(real - e, fake, objective)) / (2 * eps),
                   (expected_d_loss(real, fake + e, objective) - expected_d_loss(real, fake - e, objective)) / (2 * eps),
                   (expected_g_loss(fake + e, objective) - expected_g_loss(fake - e, objective)) / (2 * eps)]
        for analytic, expected in zip((gr, gf, gg), numeric):
            assert analytic.numpy()[k] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_minimax_saturates_where_nonsat_does_not():
    """When D confidently rejects G's samples (D(G(z)) -> 0, logit -> -inf), the minimax generator loss
    log(1 - D(G(z))) has a vanishing gradient, the non-saturating -log D(G(z)) a gradient of size 1/n."""
    n = 4
    for logit in (-5.0, -10.0, -20.0):
        grads = {}
        for objective in ("minimax", "nonsat"):
            f = mg.tensor(np.full(n, logit), requires_grad=True)
            (g,) = mg.grad(generator_loss(f, objective), [f])
            grads[objective] = g.numpy()
        d_of_g = 1 / (1 + np.exp(-logit))
        np.testing.assert_allclose(grads["minimax"], -d_of_g / n, rtol=1e-10)  # d/dl log(1 - s(l)) = -s(l)
        np.testing.assert_allclose(grads["nonsat"], -(1 - d_of_g) / n, rtol=1e-10)  # d/dl -log s(l) = -(1 - s(l))
        assert np.abs(grads["minimax"]).max() < 1e-2 / n
        assert np.abs(grads["nonsat"]).min() > 0.99 / n


@pytest.mark.parametrize("objective", ["nonsat", "minimax", "lsgan"])
def test_one_sided_label_smoothing_changes_only_the_real_target(objective, rng):
    real, fake = outputs(rng)
    smoothed = discriminator_loss(mg.tensor(real), mg.tensor(fake), objective, real_label=0.9)
    np.testing.assert_allclose(smoothed.item(), expected_d_loss(real, fake, objective, 0.9), rtol=1e-12)
    plain = discriminator_loss(mg.tensor(real), mg.tensor(fake), objective)
    assert abs(smoothed.item() - plain.item()) > 1e-3
    # the fake term is untouched: shifting only the fake outputs moves both losses equally
    shifted = fake + 0.5
    delta_plain = discriminator_loss(mg.tensor(real), mg.tensor(shifted), objective).item() - plain.item()
    delta_smooth = (discriminator_loss(mg.tensor(real), mg.tensor(shifted), objective, real_label=0.9).item()
                    - smoothed.item())
    assert delta_plain == pytest.approx(delta_smooth, rel=1e-12)


def test_smoothed_discriminator_optimum_is_at_the_smoothed_target():
    """With target 0.9, the real term's minimum over the logit is at sigmoid(l) = 0.9: its gradient is zero."""
    logit = np.log(0.9 / 0.1)
    r = mg.tensor(np.array([logit]), requires_grad=True)
    (g,) = mg.grad(discriminator_loss(r, mg.tensor(np.array([-50.0])), "nonsat", real_label=0.9), [r])
    assert abs(g.item()) < 1e-12


def test_feature_matching_loss(rng):
    real, fake = rng.standard_normal((6, 5)), rng.standard_normal((4, 5))
    loss = feature_matching_loss(mg.tensor(real), mg.tensor(fake))
    np.testing.assert_allclose(loss.item(), np.sum((real.mean(0) - fake.mean(0)) ** 2), rtol=1e-12)
    assert feature_matching_loss(mg.tensor(real), mg.tensor(real.copy())).item() == 0.0


def test_probability_shown_in_logs(rng):
    out = rng.standard_normal(5)
    assert probability(mg.tensor(out), "nonsat") == pytest.approx(np.mean(1 / (1 + np.exp(-out))), rel=1e-12)
    assert probability(mg.tensor(out), "wasserstein") == pytest.approx(out.mean(), rel=1e-12)


def test_unknown_objective_is_named():
    with pytest.raises(ValueError, match="unknown objective 'bce'"):
        generator_loss(mg.zeros(3), "bce")
