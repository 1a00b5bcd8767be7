"""What sets each family apart: WGAN's clipping and optimizers, WGAN-GP's gradient penalty (against PyTorch),
the conditional GAN's labels, InfoGAN's codes and mutual-information loss."""

import math

import numpy as np
import pytest

import minigan as mg
from minigan import nn, optim
from minigan.models import build
from minigan.models.infogan import mutual_information_loss
from minigan.models.wgan import gradient_penalty

MNIST = (1, 28, 28)


def t64(a, requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- WGAN-GP: the gradient penalty ----
def torch_critic(d, params, x):
    """The same critic as d (an MLP or DCGAN discriminator without batch norm) written with torch.nn.functional,
    on the torch tensors params (named as d's parameters)."""
    import torch.nn.functional as TF

    h = x
    for name, m in list(d.body.named_children()) + [("out", d.out)]:
        prefix = "out." if name == "out" else f"body.{name}."
        if isinstance(m, nn.Conv2d):
            h = TF.conv2d(h, params[prefix + "weight"], params[prefix + "bias"], stride=m.stride, padding=m.padding)
        elif isinstance(m, nn.Linear):
            h = TF.linear(h, params[prefix + "weight"], params[prefix + "bias"])
        elif isinstance(m, nn.LeakyReLU):
            h = TF.leaky_relu(h, m.negative_slope)
        elif isinstance(m, nn.Flatten):
            h = h.flatten(1)
        else:
            raise TypeError(f"no torch counterpart for {m}")
    return h


@pytest.mark.parametrize("shape,options,scale", [((2,), {"hidden": "8,8"}, 0.5),
                                                 ((3, 32, 32), {"width": 0.0625}, 0.11)])
def test_gradient_penalty_matches_torch(shape, options, scale, rng):
    torch = pytest.importorskip("torch")
    critic = build("wgan-gp", shape, **options).d.double()
    with mg.no_grad():
        for p in critic.parameters():  # weights of a size that spreads the gradient norms around 1
            p.copy_(rng.standard_normal(p.shape) * (scale if p.ndim > 1 else 0.1))
    n = 6
    real, fake = rng.standard_normal((n,) + shape), np.tanh(rng.standard_normal((n,) + shape))
    alpha = rng.uniform(size=(n,) + (1,) * len(shape))

    penalty = gradient_penalty(critic, t64(real), t64(fake, requires_grad=True), lam=10.0, alpha=t64(alpha))
    names = [name for name, _ in critic.named_parameters()]
    grads = mg.grad(penalty, [p for _, p in critic.named_parameters()], allow_unused=True)

    params = {name: torch.tensor(p.numpy(), requires_grad=True) for name, p in critic.named_parameters()}
    x_hat = torch.tensor(alpha * real + (1 - alpha) * fake, requires_grad=True)
    (g,) = torch.autograd.grad(torch_critic(critic, params, x_hat).sum(), x_hat, create_graph=True)
    norms = g.reshape(n, -1).norm(2, dim=1)
    expected = 10.0 * ((norms - 1) ** 2).mean()
    expected_grads = torch.autograd.grad(expected, [params[k] for k in names], allow_unused=True)

    assert norms.min().item() < 1 < norms.max().item()
    np.testing.assert_allclose(penalty.item(), expected.item(), rtol=1e-10)
    for name, mine, theirs in zip(names, grads, expected_grads):
        if name.endswith("bias"):  # the input gradient of a piecewise-linear critic does not depend on biases
            for g in (mine, theirs):
                assert g is None or not g.numpy().any(), name
            continue
        theirs = theirs.numpy()
        assert np.abs(theirs).max() > 1e-6, name
        np.testing.assert_allclose(mine.numpy(), theirs, rtol=1e-10, atol=1e-10 * np.abs(theirs).max(), err_msg=name)


def test_gradient_penalty_by_hand(rng):
    """A linear critic x -> c <u, x> with ||u|| = 1 has gradient norm |c| everywhere: penalty lam (|c| - 1)^2."""
    u = rng.standard_normal(12)
    u /= np.linalg.norm(u)
    real, fake = t64(rng.standard_normal((4, 3, 2, 2))), t64(rng.standard_normal((4, 3, 2, 2)))
    for c in (1.0, 0.5, 3.0):
        weight = t64(c * u, requires_grad=True)

        def critic(x, weight=weight):
            return x.flatten(1) @ weight

        penalty = gradient_penalty(critic, real, fake, lam=10.0)
        assert penalty.item() == pytest.approx(10.0 * (c - 1) ** 2, abs=1e-12)
        (g,) = mg.grad(penalty, [weight])  # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
        np.testing.assert_allclose(g.numpy(), 20.0 * (c - 1) * u, atol=1e-12)


def test_gradient_penalty_is_safe_where_the_critic_is_flat():
    real, fake = mg.randn(3, 2, dtype=mg.float64), mg.randn(3, 2, dtype=mg.float64)
    w = t64(np.zeros(2), requires_grad=True)
    penalty = gradient_penalty(lambda x: x @ w, real, fake, lam=10.0)
    (g,) = mg.grad(penalty, [w])
    assert penalty.item() == pytest.approx(10.0)
    assert np.all(np.isfinite(g.numpy()))


def test_wgan_gp_critic_loss_is_wasserstein_plus_penalty(rng):
    gan = build("wgan-gp", (2,), hidden="8")
    x, fake = mg.randn(5, 2), mg.randn(5, 2)
    mg.manual_seed(7)
    loss, logs = gan.d_loss(x, None, fake, {})
    mg.manual_seed(7)
    penalty = gradient_penalty(gan.d, x, fake, lam=10.0)
    wasserstein = gan.d(fake).numpy().mean() - gan.d(x).numpy().mean()
    assert loss.item() == pytest.approx(wasserstein + penalty.item(), rel=1e-5)
    assert logs["gp"] == pytest.approx(penalty.item(), rel=1e-6)
    assert gan.g_loss(x, None, fake, {})[0].item() == pytest.approx(-gan.d(fake).numpy().mean(), rel=1e-5)


def test_wgan_gp_settings():
    gan = build("wgan-gp", MNIST, width=0.0625)
    opt_g, opt_d = gan.optimizers()
    for opt in (opt_g, opt_d):
        assert isinstance(opt, optim.Adam)
        assert opt.param_groups[0]["lr"] == 1e-4 and tuple(opt.param_groups[0]["betas"]) == (0.0, 0.9)
    assert gan.gp_lambda == 10.0 and gan.objective == "wasserstein"


# ---- WGAN: weight clipping ----
@pytest.mark.parametrize("shape,options", [((2,), {"hidden": "16,16"}), (MNIST, {"width": 0.0625})])
def test_weight_clipping_keeps_the_critic_in_the_box(shape, options, rng):
    gan = build("wgan", shape, clip=0.01, lr=0.05, **options)  # a large step, so that clipping has work to do
    assert all(np.abs(p.numpy()).max() <= 0.01 for p in gan.d.parameters())  # clipped from the start
    _, opt_d = gan.optimizers()
    x = mg.randn(8, *shape)
    clipped = 0
    for _ in range(3):
        latent = gan.sample_latent(8)
        loss, _ = gan.d_loss(x, None, gan.generate(latent).detach(), latent)
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        clipped += sum(int((np.abs(p.numpy()) > 0.01).sum()) for p in gan.d.parameters())
        gan.after_d_step()
        for name, p in gan.d.named_parameters():
            assert np.abs(p.numpy()).max() <= 0.01, name
    assert clipped > 0
    assert sum(int((np.abs(p.numpy()) == np.float32(0.01)).sum()) for p in gan.d.parameters()) > 0


def test_wgan_settings(rng):
    gan = build("wgan", (2,), hidden="8")
    opt_g, opt_d = gan.optimizers()
    for opt in (opt_g, opt_d):
        assert isinstance(opt, optim.RMSprop) and opt.param_groups[0]["lr"] == 5e-5
    assert gan.objective == "wasserstein" and gan.clip == 0.01
    x, fake = mg.randn(6, 2), mg.randn(6, 2)
    loss, _ = gan.d_loss(x, None, fake, {})
    assert loss.item() == pytest.approx(gan.d(fake).numpy().mean() - gan.d(x).numpy().mean(), rel=1e-5, abs=1e-9)


# ---- the conditional GAN ----
@pytest.mark.parametrize("shape,options", [((2,), {"hidden": "16"}), (MNIST, {"width": 0.0625}),
                                           (MNIST, {"arch": "mlp", "hidden": "16"})])
def test_cgan_output_depends_on_the_label(shape, options):
    gan = build("cgan", shape, 4, **options)
    latent = gan.sample_latent(4, labels=[0, 1, 2, 3])
    same_z = {"z": mg.tensor(np.repeat(latent["z"].numpy()[:1], 4, axis=0)), "labels": latent["labels"]}
    with mg.no_grad():
        gan.g.eval()
        out = gan.generate(same_z).numpy().reshape(4, -1)
        gan.d.eval()
        scores = gan.discriminate(mg.tensor(np.repeat(out[:1].reshape((1,) + shape), 4, axis=0)), latent["labels"])
    for i in range(4):
        for j in range(i):
            assert np.abs(out[i] - out[j]).max() > 1e-6
    assert len(set(scores.numpy().tolist())) == 4  # one sample judged under four labels: four scores


def test_cgan_sample_latent_honours_labels():
    gan = build("cgan", (2,), 5, hidden="8")
    latent = gan.sample_latent(6, labels=[4, 0, 3, 3, 1, 2])
    assert latent["labels"].numpy().tolist() == [4, 0, 3, 3, 1, 2]
    assert latent["z"].shape == (6, 100)
    drawn = gan.sample_latent(500)["labels"].numpy()
    assert drawn.min() == 0 and drawn.max() == 4 and np.bincount(drawn).min() > 50
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        gan.sample_latent(2, labels=[0, 5])
    with pytest.raises(ValueError, match="expected 3 integers"):
        gan.sample_latent(3, labels=[0, 1])
    with pytest.raises(ValueError, match="needs the labels"):
        gan.discriminate(mg.randn(2, 2))


def test_cgan_discriminator_sees_labels_as_constant_channels():
    gan = build("cgan", MNIST, 3, width=0.0625, embed_dim=5)
    x, labels = mg.randn(2, *MNIST), mg.tensor([2, 0])
    joined = gan.d.join(x, labels).numpy()
    assert joined.shape == (2, 1 + 5, 28, 28)
    np.testing.assert_array_equal(joined[:, :1], x.numpy())
    table = gan.d.embed.weight.numpy()
    for k, label in enumerate([2, 0]):
        np.testing.assert_array_equal(joined[k, 1:], np.broadcast_to(table[label][:, None, None], (5, 28, 28)))
    assert gan.d.net.body[0].in_channels == 6


# ---- InfoGAN ----
def test_mutual_information_loss_by_hand(rng):
    logits, means = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    code, cont = rng.integers(0, 4, 5), rng.uniform(-1, 1, (5, 2))
    loss = mutual_information_loss(t64(logits), t64(means), mg.tensor(code), t64(cont))
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    cross_entropy = -log_softmax[np.arange(5), code].mean()
    gaussian_nll = (0.5 * (cont - means) ** 2 + 0.5 * math.log(2 * math.pi)).sum(1).mean()
    assert loss.item() == pytest.approx(cross_entropy + gaussian_nll, rel=1e-12)
    assert mutual_information_loss(t64(logits), None, mg.tensor(code), None).item() == pytest.approx(cross_entropy)
    assert mutual_information_loss(None, t64(means), None, t64(cont)).item() == pytest.approx(gaussian_nll)


@pytest.mark.parametrize("shape,options", [((2,), {"hidden": "16,16"}), (MNIST, {"width": 0.0625})])
def test_infogan_q_predictions_enter_both_losses(shape, options):
    """G's gradient is that of the adversarial loss plus lambda times that of L_I: linear in lambda, and
    changing with it; D's loss is its adversarial loss plus lambda L_I on the fake batch."""
    gan = build("infogan", shape, **options)
    x, latent = mg.randn(6, *shape), gan.sample_latent(6)
    params = list(gan.g.parameters())

    def g_grads(lam):
        gan.info_lambda = lam
        loss, logs = gan.g_loss(x, None, gan.generate(latent), latent)
        return [g.numpy() for g in mg.grad(loss, params)], logs

    (g0, _), (g1, logs), (g2, _) = g_grads(0.0), g_grads(1.0), g_grads(2.0)
    assert max(np.abs(a - b).max() for a, b in zip(g0, g1)) > 1e-6
    for a, b, c in zip(g0, g1, g2):
        np.testing.assert_allclose(c - b, b - a, rtol=1e-3, atol=1e-6 * max(np.abs(b).max(), 1e-30))

    fake = gan.generate(latent).detach()
    _, cat_logits, cont_mean = gan.d.with_q(fake)
    mi = mutual_information_loss(cat_logits, cont_mean, latent["code"], latent["cont"]).item()
    assert logs["info"] == pytest.approx(mi, rel=1e-5)
    gan.info_lambda = 1.0
    d1 = gan.d_loss(x, None, fake, latent)[0].item()
    gan.info_lambda = 0.0
    d0 = gan.d_loss(x, None, fake, latent)[0].item()
    assert d1 - d0 == pytest.approx(mi, rel=1e-4)


def test_infogan_latent_and_codes():
    gan = build("infogan", (2,), hidden="8", nz=5, n_cat=4, n_cont=3)
    latent = gan.sample_latent(400)
    code, cont = latent["code"].numpy(), latent["cont"].numpy()
    assert latent["z"].shape == (400, 5) and cont.shape == (400, 3)
    assert set(code.tolist()) == {0, 1, 2, 3}
    assert cont.min() >= -1 and cont.max() <= 1 and cont.min() < -0.9 and cont.max() > 0.9
    assert gan.sample_latent(3, codes=[3, 1, 0])["code"].numpy().tolist() == [3, 1, 0]
    with pytest.raises(ValueError, match=r"categorical codes must lie in \[0, 4\)"):
        gan.sample_latent(2, codes=[0, 4])
    out, cat_logits, cont_mean = gan.d.with_q(gan.generate(latent))
    assert out.shape == (400,) and cat_logits.shape == (400, 4) and cont_mean.shape == (400, 3)
    # G sees the code as a one-hot block after z: changing only the code changes the sample
    other = dict(latent, code=mg.tensor((code + 1) % 4))
    with mg.no_grad():
        assert np.abs(gan.generate(latent).numpy() - gan.generate(other).numpy()).min() > 0
    only_cont = build("infogan", (2,), hidden="8", n_cat=0, n_cont=2)
    assert "code" not in only_cont.sample_latent(2)
    with pytest.raises(ValueError, match="at least one code"):
        build("infogan", (2,), n_cat=0, n_cont=0)
