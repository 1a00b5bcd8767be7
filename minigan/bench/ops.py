"""bench_ops: each heavy operator, forward and backward, at the layer shapes of the benchmark DCGANs.

The layer shapes are read off the models themselves (a forward pass with hooks on their PyTorch twins). Each
case runs in minigan and in PyTorch on the same arrays, with the same threads; the table gives the median
times and the ratio minigan / PyTorch (below 1: minigan is faster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

import minigan as mg
from minigan.bench.common import require_torch, timeit
from minigan.bench.models import networks
from minigan.bench.twin import torch_twin
from minigan.ops.batch_norm import batch_norm_act


@dataclass(frozen=True)
class Case:
    """One operator call: op in conv2d, conv_transpose2d, batch_norm, leaky_relu, batch_norm_act."""

    op: str
    x: tuple
    weight: tuple = ()
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    slope: float | None = None

    def label(self) -> str:
        shape = "x".join(map(str, self.x))
        if self.op in ("conv2d", "conv_transpose2d"):
            k = self.weight
            extra = f" op{self.output_padding}" if self.op == "conv_transpose2d" else ""
            return f"{shape} W{'x'.join(map(str, k))} s{self.stride} p{self.padding}{extra}"
        act = "" if self.slope is None else (" +relu" if self.slope == 0 else f" +lrelu{self.slope}")
        return shape + act


def layer_cases(model: str, batch: int) -> list[Case]:
    """The distinct heavy-operator calls of one training step of a model, found by running its PyTorch twin. A
    batch norm fused with its activation gives three cases: the batch norm alone, the activation alone (PyTorch's
    way) and the two fused (minigan's)."""
    torch = require_torch()
    tnn = torch.nn
    g, d, nz, _ = networks(model)
    g, d = torch_twin(g), torch_twin(d)
    cases = []

    def hook(module, inputs, _):
        x = tuple(inputs[0].shape)
        if isinstance(module, tnn.Conv2d):
            cases.append(Case("conv2d", x, tuple(module.weight.shape), module.stride[0], module.padding[0]))
        elif isinstance(module, tnn.ConvTranspose2d):
            cases.append(Case("conv_transpose2d", x, tuple(module.weight.shape), module.stride[0],
                              module.padding[0], module.output_padding[0]))
        elif isinstance(module, tnn.BatchNorm2d):
            cases.append(Case("batch_norm", x))
            slope = getattr(module, "negative_slope", None)
            if slope is not None:
                cases.extend([Case("leaky_relu", x, slope=slope), Case("batch_norm_act", x, slope=slope)])
        elif isinstance(module, (tnn.LeakyReLU, tnn.ReLU)):
            cases.append(Case("leaky_relu", x, slope=getattr(module, "negative_slope", 0.0)))

    for net in (g, d):
        for layer in net.modules():
            layer.register_forward_hook(hook)
    with torch.no_grad():
        d(g(torch.randn(batch, nz)))
    return list(dict.fromkeys(cases))


def _inputs(case: Case, rng) -> list[numpy.ndarray]:
    x = rng.standard_normal(case.x).astype(numpy.float32)
    if case.op in ("conv2d", "conv_transpose2d"):
        return [x, (0.02 * rng.standard_normal(case.weight)).astype(numpy.float32)]
    if case.op in ("batch_norm", "batch_norm_act"):
        c = case.x[1]
        return [x, (1 + 0.02 * rng.standard_normal(c)).astype(numpy.float32), numpy.zeros(c, numpy.float32)]
    return [x]


def _call(case: Case, F, xs, fused):
    if case.op == "conv2d":
        return F.conv2d(xs[0], xs[1], None, case.stride, case.padding)
    if case.op == "conv_transpose2d":
        return F.conv_transpose2d(xs[0], xs[1], None, case.stride, case.padding, case.output_padding)
    if case.op == "batch_norm":
        return F.batch_norm(xs[0], None, None, xs[1], xs[2], training=True)
    if case.op == "leaky_relu":
        return F.leaky_relu(xs[0], case.slope)
    return fused(xs, case.slope)


def _torch_fused(xs, slope):
    import torch.nn.functional as F

    y = F.batch_norm(xs[0], None, None, xs[1], xs[2], training=True)
    return F.relu(y) if slope == 0 else F.leaky_relu(y, slope)


def _minigan_fused(xs, slope):
    return batch_norm_act(xs[0], None, None, xs[1], xs[2], training=True, negative_slope=slope)


def time_case(case: Case, repeat: int) -> dict:
    """Forward and backward medians of one case in both frameworks."""
    torch = require_torch()
    arrays = _inputs(case, numpy.random.default_rng(0))
    result = {"op": case.op, "shape": case.label()}
    frameworks = {
        "minigan": (lambda a: mg.tensor(a, requires_grad=True), mg.nn.functional, _minigan_fused,
                    lambda y, xs, gy: mg.grad(y, xs, gy, retain_graph=True), mg.tensor),
        "torch": (lambda a: torch.tensor(a, requires_grad=True), torch.nn.functional, _torch_fused,
                  lambda y, xs, gy: torch.autograd.grad(y, xs, gy, retain_graph=True), torch.tensor),
    }
    for name, (leaf, F, fused, grad, const) in frameworks.items():
        xs = [leaf(a) for a in arrays]
        y = _call(case, F, xs, fused)
        gy = const(numpy.random.default_rng(1).standard_normal(tuple(y.shape)).astype(numpy.float32))
        result[f"{name}_forward"] = timeit(lambda F=F, xs=xs, fused=fused: _call(case, F, xs, fused), repeat)
        result[f"{name}_backward"] = timeit(lambda y=y, xs=xs, gy=gy, grad=grad: grad(y, xs, gy), repeat)
    for p in ("forward", "backward"):
        result[f"ratio_{p}"] = result[f"minigan_{p}"]["median"] / result[f"torch_{p}"]["median"]
    return result
