"""The mode-collapse experiment (quick protocol, through the runner) and the Maxout layer it uses."""

import json
import math

import numpy as np
import pytest

import minigan as mg
from minigan.experiments import mode_collapse, runner
from minigan.models.layers import Maxout


def test_quick_run_writes_the_picture_and_sane_numbers(tmp_path):
    record = runner.run("mode-collapse", tmp_path, quick=True, seed=0)
    png, js = tmp_path / "mode-collapse.png", tmp_path / "mode-collapse.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000  # a picture, not a stub
    assert json.loads(js.read_text(), parse_constant=float)["results"].keys() == record["results"].keys()

    results = record["results"]
    ours, protocol = results["ours"], results["protocol"]
    assert protocol["ours"]["steps"] == mode_collapse.QUICK["steps"]
    assert protocol["ours"]["trials"] == 1
    assert protocol["pacgan"]["steps"] == 400_000 and protocol["pacgan"]["trials"] == 10
    assert set(ours) == set(mode_collapse.VARIANTS)
    for variant in mode_collapse.VARIANTS:
        assert set(ours[variant]) == {"ring8", "grid25"}
        for data, k in (("ring8", 8), ("grid25", 25)):
            score = ours[variant][data]
            assert score["num_modes"] == k
            (trial,) = score["trials"]
            assert isinstance(trial["modes_covered"], int) and 0 <= trial["modes_covered"] <= k
            assert 0.0 <= trial["high_quality"] <= 1.0
            assert len(trial["counts"]) == k and sum(trial["counts"]) == round(trial["high_quality"] * 2500)
            kl = trial["reverse_kl"]
            assert math.isnan(kl) if sum(trial["counts"]) == 0 else 0.0 <= kl <= math.log(k) + 1e-9
            assert score["modes_covered"]["mean"] == trial["modes_covered"]
            assert score["modes_covered"]["n"] == 1 and math.isnan(score["modes_covered"]["stderr"])
            assert protocol["seconds_per_step"][variant][data] > 0

    published = results["published"]
    assert published["GAN"]["ring8"] == {"modes_covered": 6.3, "high_quality": 0.982}
    assert published["GAN"]["grid25"] == {"modes_covered": 17.3, "high_quality": 0.948}
    assert published["PacGAN4"]["ring8"]["modes_covered"] == 7.8
    assert published["PacGAN4"]["grid25"]["modes_covered"] == 24.8
    side_by_side = results["ours_vs_published"]["GAN"]["grid25"]["high_quality"]
    assert side_by_side == {"ours": ours["GAN"]["grid25"]["high_quality"]["mean"], "paper": 0.948}


def test_the_same_seed_trains_the_same_generator(tmp_path):
    a = mode_collapse.train_one("PacGAN2", "ring8", 3, seed=5, out=tmp_path)
    b = mode_collapse.train_one("PacGAN2", "ring8", 3, seed=5, out=tmp_path)
    c = mode_collapse.train_one("PacGAN2", "ring8", 3, seed=6, out=tmp_path)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    assert not np.array_equal(a[0], c[0])


def test_the_networks_follow_pacgan():
    gan = mode_collapse.build("PacGAN4")
    x = mg.randn(400, 2)  # 100 packs of 4 points
    assert gan.discriminate(x).shape == (100,)
    assert gan.d.body[0].in_features == 8  # the packed input: 4 points side by side
    assert [m.pieces for m in gan.d.body] == [5, 5, 5] and [m.out_features for m in gan.d.body] == [200] * 3
    widths = [m.out_features for m in gan.g.modules() if isinstance(m, mg.nn.Linear)]
    assert widths == [400, 400, 400, 400, 2] and gan.nz == 2
    assert sum(isinstance(m, mg.nn.BatchNorm1d) for m in gan.g.modules()) == 4
    assert gan.lr == 1e-4 and gan.betas == (0.8, 0.999)
    weights = np.concatenate([m.weight.numpy().ravel() for m in gan.d.modules() if isinstance(m, mg.nn.Linear)])
    assert weights.std() == pytest.approx(0.02, rel=0.05)
    # a pack is 4 consecutive rows: permuting rows inside a pack changes D's input, across packs only its order
    out = gan.discriminate(x).numpy()
    swapped = x.numpy().reshape(100, 4, 2)[::-1].reshape(400, 2)
    assert np.allclose(gan.discriminate(mg.tensor(swapped)).numpy(), out[::-1], atol=1e-6)
    wgan = mode_collapse.build("WGAN-GP")
    assert mode_collapse.CRITIC_STEPS == 5 and not any(isinstance(m, mg.nn.BatchNorm1d) for m in wgan.d.modules())
    assert mode_collapse.build("minibatch discrimination").d.mbd is not None
    assert mode_collapse.build("feature matching").feature_matching


def test_maxout_is_the_maximum_over_pieces():
    layer = Maxout(3, 4, pieces=5)
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    xt = mg.tensor(x, requires_grad=True)
    y = layer(xt)
    assert y.shape == (6, 4)
    w, b = layer.linear.weight.numpy(), layer.linear.bias.numpy()
    assert w.shape == (20, 3)
    z = x @ w.T + b  # (6, 20): piece k of unit j is column k * 4 + j
    expected = np.stack([z[:, [k * 4 + j for k in range(5)]].max(axis=1) for j in range(4)], axis=1)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6)

    # the gradient reaches the winning piece only: d sum(y) / dx = sum over units of the winner's weight row
    y.sum().backward()
    winners = np.stack([np.array([k * 4 + j for k in range(5)])[z[:, [k * 4 + j for k in range(5)]].argmax(1)]
                        for j in range(4)], axis=1)  # (6, 4) column index of each unit's winning piece
    expected_grad = np.stack([w[winners[i]].sum(axis=0) for i in range(6)])
    np.testing.assert_allclose(xt.grad.numpy(), expected_grad, rtol=1e-5, atol=1e-6)
    grad_w = layer.linear.weight.grad.numpy()
    losers = np.setdiff1d(np.arange(20), winners.ravel())
    assert np.all(grad_w[losers] == 0) and np.abs(grad_w).sum() > 0


def test_maxout_rejects_a_wrong_input():
    with pytest.raises(ValueError, match=r"Maxout: expected an input of shape \(N, 3\)"):
        Maxout(3, 4)(mg.zeros(2, 5))
    with pytest.raises(ValueError, match="pieces must be at least 1"):
        Maxout(3, 4, pieces=0)
