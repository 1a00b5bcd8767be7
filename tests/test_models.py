"""Every GAN family through the registry: shapes, initialisation, a few training steps driven through the GAN
protocol, state_dict round trips, and the registry's errors. Small widths and tiny synthetic data throughout."""

import inspect
import math

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.models import MODELS, ModelSpec, Option, build
from minigan.models.base import GAN
from minigan.models.layers import MinibatchDiscrimination, ReferenceBatch, VirtualBatchNorm

POINTS, MNIST, RGB32 = (2,), (1, 28, 28), (3, 32, 32)

# (name, sample shape, options): every model on each kind of sample it supports, at small sizes
CASES = [
    ("gan", POINTS, {"hidden": "32,32"}),
    ("gan", MNIST, {"hidden": "32"}),
    ("gan", RGB32, {"hidden": "16", "batch_norm": True}),
    ("gan", POINTS, {"hidden": "16,16", "virtual_batch_norm": True, "minibatch_discrimination": True}),
    ("dcgan", MNIST, {"width": 0.0625}),
    ("dcgan", RGB32, {"width": 0.0625}),
    ("dcgan", (1, 32, 32), {"width": 0.0625, "virtual_batch_norm": True, "minibatch_discrimination": True}),
    ("dcgan64", (3, 64, 64), {"ngf": 4, "ndf": 4}),
    ("dcgan64", (1, 64, 64), {"ngf": 4, "ndf": 4}),
    ("cgan", POINTS, {"hidden": "32,32"}),
    ("cgan", MNIST, {"width": 0.0625}),
    ("cgan", RGB32, {"arch": "mlp", "hidden": "16"}),
    ("wgan", POINTS, {"hidden": "32,32"}),
    ("wgan", MNIST, {"width": 0.0625}),
    ("wgan-gp", POINTS, {"hidden": "32,32"}),
    ("wgan-gp", RGB32, {"width": 0.0625}),
    ("infogan", POINTS, {"hidden": "32,32"}),
    ("infogan", MNIST, {"width": 0.0625}),
]
IDS = [f"{name}-{'x'.join(map(str, shape))}-{len(opts)}" for name, shape, opts in CASES]
CLASSES = 3


def labels_for(name, n, rng):
    return mg.tensor(rng.integers(0, CLASSES, n)) if MODELS[name].needs_labels else None


def real_batch(shape, n, rng):
    """Points near (2, -1), or images bright on top and dark below: easy for a discriminator to learn."""
    if len(shape) == 1:
        return mg.tensor((np.array([2.0, -1.0]) + 0.1 * rng.standard_normal((n, 2))).astype(np.float32))
    image = np.full(shape, -0.8)
    image[:, : shape[1] // 2] = 0.8
    return mg.tensor((image + 0.05 * rng.standard_normal((n,) + shape)).astype(np.float32))


def d_output(gan, x, labels):
    return gan.d(x, labels) if labels is not None else gan.d(x)


# ---- the registry ----
def test_registry_names_and_specs():
    assert set(MODELS) == {"gan", "dcgan", "dcgan64", "cgan", "wgan", "wgan-gp", "infogan"}
    for name, spec in MODELS.items():
        assert isinstance(spec, ModelSpec) and spec.help
        assert spec.needs_labels == (name == "cgan")
        assert {"batch", "steps", "d_steps"} <= set(spec.training)
        assert spec.training["d_steps"] == (5 if name.startswith("wgan") else 1)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_table_states_every_option_once(name):
    """The builder takes exactly the table's options, as keywords without defaults of its own, so a default can
    only be stated in the table; each option reads its own default back from text as the command line gives it."""
    spec = MODELS[name]
    params = list(inspect.signature(spec.build).parameters.values())
    assert [p.name for p in params[:2]] == ["sample_shape", "num_classes"]
    keywords = params[2:]
    assert {p.name for p in keywords} == set(spec.options)
    assert all(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in keywords)
    for option in spec.options.values():
        assert isinstance(option, Option) and callable(option.type) and option.help
        if option.type is not bool:
            text = ",".join(map(str, option.default)) if isinstance(option.default, tuple) else str(option.default)
            assert option.type(text) == option.default
        assert option.choices is None or option.default in option.choices


SHARED = {"objective": "lsgan", "real_label": 0.9, "feature_matching": True}


@pytest.mark.parametrize("name", list(MODELS))
def test_builders_take_the_game_options(name):
    """lr for every model; the objective options for all but the Wasserstein ones, whose loss is fixed."""
    spec = MODELS[name]
    shape = POINTS if name not in ("dcgan", "dcgan64") else ((3, 64, 64) if name == "dcgan64" else MNIST)
    small = {"dcgan64": {"ngf": 4, "ndf": 4}}.get(name, {"width": 0.0625} if "width" in spec.options else {})
    gan = build(name, shape, CLASSES, lr=1e-3, **small)
    assert gan.optimizers()[1].param_groups[0]["lr"] == 1e-3
    if name.startswith("wgan"):
        assert not set(SHARED) & set(spec.options)
        assert gan.objective == "wasserstein"
        with pytest.raises(ValueError, match="unknown option.*objective"):
            build(name, shape, CLASSES, objective="lsgan", **small)
    else:
        gan = build(name, shape, CLASSES, **small, **SHARED)
        assert (gan.objective, gan.real_label, gan.feature_matching) == ("lsgan", 0.9, True)


@pytest.mark.parametrize("name,shape", [("gan", POINTS), ("gan", MNIST), ("dcgan", MNIST), ("dcgan", RGB32),
                                        ("dcgan64", (3, 64, 64)), ("cgan", POINTS), ("cgan", MNIST),
                                        ("wgan", POINTS), ("wgan", MNIST), ("wgan-gp", POINTS), ("wgan-gp", RGB32),
                                        ("infogan", POINTS), ("infogan", MNIST)])
def test_build_with_no_options_takes_the_table_defaults(name, shape):
    gan = build(name, shape, 10)
    options = MODELS[name].options
    assert isinstance(gan, GAN) and gan.name == name and gan.sample_shape == shape
    assert gan.conditional == (name == "cgan")
    assert gan.lr == options["lr"].default and gan.nz == options["nz"].default
    _, opt_d = gan.optimizers()
    assert opt_d.param_groups[0]["lr"] == options["lr"].default
    if "betas" in options:
        assert tuple(opt_d.param_groups[0]["betas"]) == options["betas"].default
    if name in ("dcgan", "dcgan64"):  # the full-size networks have the paper's channel counts
        inputs = [m.in_channels for m in gan.g.modules() if isinstance(m, nn.ConvTranspose2d)]
        assert inputs == ([512, 256, 128] if name == "dcgan" else [100, 512, 256, 128, 64])


def test_only_a_conditional_gan_takes_labels():
    assert not build("gan", POINTS, hidden="8").conditional
    with pytest.raises(ValueError, match="not conditional"):
        build("gan", POINTS, hidden="8").sample_latent(3, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="not conditional"):
        build("infogan", POINTS, hidden="8").sample_latent(3, labels=[0, 1, 2])
    latent = build("cgan", POINTS, CLASSES, hidden="8").sample_latent(3, labels=[0, 1, 2])
    assert latent["labels"].numpy().tolist() == [0, 1, 2]


def test_build_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model 'dcgan128'.*gan, dcgan, dcgan64, cgan, wgan, wgan-gp, infogan"):
        build("dcgan128", MNIST)
    with pytest.raises(ValueError, match=r"dcgan: expects images .* got \(2,\)"):
        build("dcgan", POINTS)
    with pytest.raises(ValueError, match=r"dcgan64: expects 64x64 images .* got \(1, 28, 28\)"):
        build("dcgan64", MNIST)
    with pytest.raises(ValueError, match=r"dcgan: .*sides from 25 to 32.*use dcgan64"):
        build("dcgan", (3, 64, 64))
    with pytest.raises(ValueError, match="cgan: needs a labelled dataset"):
        build("cgan", MNIST)
    with pytest.raises(ValueError, match="unknown option.*widht"):
        build("dcgan", MNIST, widht=0.5)
    with pytest.raises(ValueError, match="conv architecture needs images"):
        build("wgan", POINTS, arch="conv")
    with pytest.raises(ValueError, match="unknown objective"):
        build("gan", POINTS, objective="bce")
    with pytest.raises(ValueError, match="layer sizes"):
        build("gan", POINTS, hidden="32,x")


# ---- shapes ----
@pytest.mark.parametrize("name,shape,options", CASES, ids=IDS)
def test_output_shapes(name, shape, options, rng):
    gan = build(name, shape, CLASSES, **options)
    n = 5
    latent = gan.sample_latent(n)
    fake = gan.generate(latent)
    assert fake.shape == (n,) + shape
    if len(shape) == 3:  # tanh images
        assert np.abs(fake.numpy()).max() <= 1
    labels = labels_for(name, n, rng)
    assert d_output(gan, real_batch(shape, n, rng), labels).shape == (n, 1)
    assert gan.discriminate(fake, latent.get("labels")).shape == (n,)
    feats = gan.d.features(fake, latent["labels"]) if labels is not None else gan.d.features(fake)
    assert feats.ndim == 2 and feats.shape[0] == n


def test_options_put_their_layers_in_place():
    gan = build("dcgan", (1, 32, 32), width=0.0625, virtual_batch_norm=True, minibatch_discrimination=True)
    assert isinstance(gan.g, ReferenceBatch)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gan.g.modules())
    assert sum(isinstance(m, VirtualBatchNorm) for m in gan.g.modules()) == 3
    assert isinstance(gan.d.mbd, MinibatchDiscrimination)
    assert gan.d.out.in_features == gan.d.num_features + gan.d.mbd.out_features
    gan = build("gan", POINTS, hidden="8,8", batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in gan.g.modules()) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in build("wgan-gp", MNIST, width=0.0625).d.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in build("wgan", MNIST, width=0.0625).d.modules())


def test_dcgan_reaches_28_from_7x7_and_32_from_8x8():
    """The generator grows 4x4 to 7x7 (28x28 images) or 8x8 (32x32), then doubles twice: no crop, no pad."""
    for shape, first in ((MNIST, (7, 7)), (RGB32, (8, 8))):
        convs = [m for m in build("dcgan", shape, width=0.0625).g.modules() if isinstance(m, nn.ConvTranspose2d)]
        h, sizes = mg.randn(2, convs[0].in_channels, 4, 4), []
        for conv in convs:
            h = conv(h)
            sizes.append(h.shape[2:])
        assert sizes == [first, tuple(2 * s for s in first), shape[1:]]


@pytest.mark.parametrize("name,shape", [("dcgan", (1, 32, 32)), ("dcgan64", (3, 64, 64))])
def test_dcgans_and_their_pytorch_twins_compute_the_same(name, shape, rng):
    """The benchmarks time these very networks against their PyTorch twins: with the same weights, PyTorch gives
    the same samples and logits (float64), in training (batch statistics) and evaluation (running ones)."""
    torch = pytest.importorskip("torch")
    from minigan.bench.twin import torch_twin

    gan = build(name, shape)
    gan.g.double()
    gan.d.double()
    z = rng.standard_normal((3, gan.nz))
    for training in (True, False):
        gan.g.train(training)
        gan.d.train(training)
        g_t, d_t = torch_twin(gan.g), torch_twin(gan.d)
        assert set(g_t.state_dict()) == set(gan.g.state_dict()) and set(d_t.state_dict()) == set(gan.d.state_dict())
        with mg.no_grad():
            fake = gan.g(mg.tensor(z))
            logits = gan.d(fake)
        with torch.no_grad():
            fake_t = g_t(torch.tensor(z))
            np.testing.assert_allclose(fake.numpy(), fake_t.numpy(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(logits.numpy(), d_t(fake_t).numpy(), rtol=1e-9, atol=1e-12)


# ---- initialisation ----
@pytest.mark.parametrize("name,shape", [("dcgan", MNIST), ("dcgan64", (3, 64, 64))])
def test_dcgan_initialisation(name, shape):
    """Conv and dense weights from N(0, 0.02), batch-norm scales from N(1, 0.02), shifts and biases 0."""
    gan = build(name, shape)
    weights, scales = [], []
    for net in (gan.g, gan.d):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                w = m.weight.numpy().ravel()
                weights.append(w)
                if w.size >= 10_000:  # each large layer on its own
                    assert abs(w.mean()) < 5 * 0.02 / math.sqrt(w.size)
                    assert w.std() == pytest.approx(0.02, rel=0.05)
                if m.bias is not None:
                    assert not m.bias.numpy().any()
            elif isinstance(m, nn.BatchNorm2d):
                scales.append(m.weight.numpy())
                assert not m.bias.numpy().any()
    w, s = np.concatenate(weights), np.concatenate(scales)
    assert w.std() == pytest.approx(0.02, rel=0.01)
    assert abs(s.mean() - 1) < 5 * 0.02 / math.sqrt(s.size)
    assert s.std() == pytest.approx(0.02, rel=0.25)


# ---- training through the GAN protocol ----
def d_loss_at(gan, x, labels, latent):
    """D's loss on a fixed real batch and a fixed latent (the same random interpolates for WGAN-GP)."""
    mg.manual_seed(123)
    with mg.no_grad():
        fake = gan.generate(latent)
    return gan.d_loss(x, labels, fake.detach(), latent)[0].item()


def train(gan, x, labels, steps):
    """What a trainer does: d_steps discriminator updates on detached fakes, then one generator update."""
    opt_g, opt_d = gan.optimizers()
    n = x.shape[0]
    for _ in range(steps):
        for _ in range(MODELS[gan.name].training["d_steps"]):
            latent = gan.sample_latent(n)
            loss, logs = gan.d_loss(x, labels, gan.generate(latent).detach(), latent)
            assert np.isfinite(loss.item()) and all(np.isfinite(v) for v in logs.values())
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            gan.after_d_step()
        latent = gan.sample_latent(n)
        loss, _ = gan.g_loss(x, labels, gan.generate(latent), latent)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()


TRAIN_CASES = [c for c in CASES if c[0] != "dcgan64" or c[1][0] == 3]


@pytest.mark.parametrize("name,shape,options", TRAIN_CASES, ids=[IDS[CASES.index(c)] for c in TRAIN_CASES])
def test_a_few_steps_lower_the_discriminator_loss(name, shape, options, rng):
    gan = build(name, shape, CLASSES, **options)
    n = 16
    x, labels = real_batch(shape, n, rng), labels_for(name, n, rng)
    latent = gan.sample_latent(n)
    g_before = [p.numpy().copy() for p in gan.g.parameters()]
    before = d_loss_at(gan, x, labels, latent)
    train(gan, x, labels, steps=8)
    after = d_loss_at(gan, x, labels, latent)
    assert after < before
    assert any(np.abs(p.numpy() - q).max() > 0 for p, q in zip(gan.g.parameters(), g_before))


@pytest.mark.parametrize("objective", ["minimax", "lsgan", "hinge"])
def test_other_objectives_and_tricks_train(objective, rng):
    gan = build("gan", POINTS, hidden="32,32", objective=objective, real_label=0.9, feature_matching=True)
    x = real_batch(POINTS, 16, rng)
    latent = gan.sample_latent(16)
    before = d_loss_at(gan, x, None, latent)
    train(gan, x, None, steps=8)
    assert d_loss_at(gan, x, None, latent) < before


def test_feature_matching_is_the_generator_loss(rng):
    gan = build("dcgan", MNIST, width=0.0625, feature_matching=True)
    x = real_batch(MNIST, 6, rng)
    latent = gan.sample_latent(6)
    fake = gan.generate(latent)
    loss, _ = gan.g_loss(x, None, fake, latent)
    real_f, fake_f = gan.d.features(x).numpy(), gan.d.features(fake).numpy()
    np.testing.assert_allclose(loss.item(), np.sum((real_f.mean(0) - fake_f.mean(0)) ** 2), rtol=1e-5)


# ---- state_dict round trip ----
def set_mode(gan, training):
    for module in gan.networks().values():
        module.train(training)


@pytest.mark.parametrize("name,shape,options", CASES, ids=IDS)
def test_state_dict_round_trip(name, shape, options, rng):
    gan = build(name, shape, CLASSES, **options)
    n = 6
    x, labels = real_batch(shape, n, rng), labels_for(name, n, rng)
    train(gan, x, labels, steps=1)  # running statistics move away from their start
    mg.manual_seed(1)
    other = build(name, shape, CLASSES, **options)
    latent = gan.sample_latent(n)
    with mg.no_grad():
        assert np.abs(gan.generate(latent).numpy() - other.generate(latent).numpy()).max() > 1e-6
        for key, module in gan.networks().items():
            other.networks()[key].load_state_dict(module.state_dict())
        for training in (True, False):
            set_mode(gan, training)
            set_mode(other, training)
            np.testing.assert_array_equal(gan.generate(latent).numpy(), other.generate(latent).numpy())
            np.testing.assert_array_equal(d_output(gan, x, labels).numpy(), d_output(other, x, labels).numpy())
