"""The quick versions of the optimal-discriminator and saturation experiments write their PNG and JSON and show
their claims: D close to p_data / (p_data + p_g), the generator-loss derivatives equal to -D and -(1 - D), and
the minimax gradient collapsing while the non-saturating one does not."""

import json
import math

import numpy as np
import pytest

from minigan.experiments import optimal_discriminator, runner, saturation
from minigan.viz.common import PNG_SIGNATURE


def run_quick(name, folder):
    record = runner.run(name, folder, quick=True)
    png, written = folder / f"{name}.png", folder / f"{name}.json"
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 10_000
    saved = json.loads(written.read_text())
    assert saved["experiment"] == name and saved["quick"] is True
    assert saved["results"] == json.loads(json.dumps(record["results"]))
    return record["results"]


@pytest.fixture(scope="module")
def optimal(tmp_path_factory):
    return run_quick("optimal-d", tmp_path_factory.mktemp("optimal-d"))


@pytest.fixture(scope="module")
def saturated(tmp_path_factory):
    return run_quick("saturation", tmp_path_factory.mktemp("saturation"))


def test_optimal_d_is_close_to_the_density_ratio(optimal):
    x = np.linspace(*optimal["region"], 501)
    d_star = optimal_discriminator.optimal_d(x)
    assert np.abs(d_star - 0.5).max() > 0.35  # a discriminator that learned nothing would be this far off
    assert optimal["max_abs_error"] < 0.15
    assert optimal["weighted_mean_abs_error"] < 0.015


def test_optimal_d_loss_is_at_its_minimum(optimal):
    # the JSD against a Monte Carlo estimate: JSD = E_p log(2p / (p + q)) / 2 + E_q log(2q / (p + q)) / 2
    rng = np.random.default_rng(1)
    pdf = optimal_discriminator.normal_pdf
    p, q = optimal_discriminator.DATA, optimal_discriminator.GENERATOR

    def half(a, b):
        x = rng.normal(*a, size=400_000)
        return np.mean(np.log(2 * pdf(x, *a) / (pdf(x, *a) + pdf(x, *b)))) / 2

    assert optimal["jsd"] == pytest.approx(half(p, q) + half(q, p), abs=3e-3)
    assert optimal["d_loss_min"] == pytest.approx(2 * math.log(2) - 2 * optimal["jsd"])
    assert 0 <= optimal["d_loss_gap"] < 5e-3  # D* is the minimum, and D = 1/2 would be 2 JSD = 0.5 above it


def test_saturation_derivatives_match_the_formulas(saturated):
    sweep = saturated["derivative_sweep"]
    assert sweep["max_rel_error_float64"] < 1e-12
    assert sweep["max_rel_error_float32"] < 1e-5


def test_saturation_derivatives_per_sample_convention():
    logits = np.array([-12.0, -3.0, 0.0, 2.5, 12.0])
    measured = saturation.logit_derivatives(logits)
    d = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(measured["minimax"], -d, rtol=1e-12)
    np.testing.assert_allclose(measured["nonsat"], -1 / (1 + np.exp(logits)), rtol=1e-12)


def test_minimax_gradient_collapses_as_d_wins(saturated):
    protocol = saturated["protocol"]
    assert protocol["final_accuracy"] > 0.9
    assert protocol["minimax"]["end_over_start"] < 0.3
    assert protocol["minimax"]["end"] < 0.1 * protocol["nonsat"]["end"]
    assert protocol["nonsat"]["end_over_start"] > 0.5
