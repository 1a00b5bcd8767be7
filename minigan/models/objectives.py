"""The losses that set a generator against a discriminator, all written on the discriminator's raw outputs
(logits; scores for the hinge and Wasserstein critics), so that none takes the log of an underflowed sigmoid.

With D(x) = sigmoid(l(x)):
    nonsat       D: -log D(x) - log(1 - D(G(z)))     G: -log D(G(z))            (Goodfellow et al., the usual choice)
    minimax      D: as nonsat                        G: log(1 - D(G(z)))         (the original, saturating game)
    lsgan        D: (l(x) - 1)^2/2 + l(G(z))^2/2     G: (l(G(z)) - 1)^2/2        (Mao et al., least squares)
    hinge        D: relu(1 - l(x)) + relu(1 + l(G(z)))   G: -l(G(z))
    wasserstein  D: l(G(z)) - l(x)                   G: -l(G(z))                 (Arjovsky et al., a critic)
each averaged over the batch. One-sided label smoothing (Salimans et al.) sets the real samples' target below 1.
"""

from __future__ import annotations

import minigan.nn.functional as F
from minigan.tensor import Tensor, ones_like, zeros_like

OBJECTIVES = ("nonsat", "minimax", "lsgan", "hinge", "wasserstein")


def _check(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")


def discriminator_loss(real: Tensor, fake: Tensor, objective: str = "nonsat", real_label: float = 1.0) -> Tensor:
    """The discriminator's loss on its outputs for a real and a generated batch (real_label < 1 smooths the
    real targets only)."""
    _check(objective)
    if objective in ("nonsat", "minimax"):
        return (F.binary_cross_entropy_with_logits(real, ones_like(real) * real_label)
                + F.binary_cross_entropy_with_logits(fake, zeros_like(fake)))
    if objective == "lsgan":
        return 0.5 * ((real - real_label) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if objective == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return fake.mean() - real.mean()


def generator_loss(fake: Tensor, objective: str = "nonsat") -> Tensor:
    """The generator's loss on the discriminator's outputs for its samples."""
    _check(objective)
    if objective == "nonsat":
        return F.binary_cross_entropy_with_logits(fake, ones_like(fake))
    if objective == "minimax":
        return -F.binary_cross_entropy_with_logits(fake, zeros_like(fake))  # mean log(1 - sigmoid(l)) = -softplus(l)
    if objective == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """||E f(x) - E f(G(z))||^2 over an intermediate layer f of the discriminator (Salimans et al. 2016)."""
    d = real_features.mean(0) - fake_features.mean(0)
    return (d * d).sum()


def probability(out: Tensor, objective: str) -> float:
    """The mean of D's output as shown in logs: sigmoid(logit) for the probabilistic objectives, the raw score
    for the others."""
    if objective in ("nonsat", "minimax"):
        return float(F.sigmoid(out.detach()).mean().item())
    return float(out.detach().mean().item())
