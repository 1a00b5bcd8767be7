"""The PyTorch twin of a minigan network: the same layers, the same parameter and buffer names, the same values.

The benchmarks and the vs-pytorch experiment time and train minigan.models' own networks against their twins, so
that "minigan against PyTorch" is about the networks that `minigan train` trains. A twin is made layer by layer:
nn.Sequential (and its subclasses that only add methods, such as the discriminators of minigan.models) becomes
torch.nn.Sequential with the same child names, and each layer its torch.nn counterpart; BatchNormAct1d/2d, which
PyTorch does not have, become a torch batch norm whose forward ends in the same leaky ReLU.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

from minigan import nn
from minigan.bench.common import require_torch


@functools.cache
def _batch_norm_act(dims: int):
    """torch's BatchNorm1d or BatchNorm2d followed by leaky_relu(negative_slope) (0: ReLU)."""
    torch = require_torch()
    base = torch.nn.BatchNorm1d if dims == 1 else torch.nn.BatchNorm2d

    class BatchNormAct(base):
        def __init__(self, num_features: int, negative_slope: float, **options):
            super().__init__(num_features, **options)
            self.negative_slope = negative_slope

        def forward(self, input):
            return torch.nn.functional.leaky_relu(super().forward(input), self.negative_slope)

    BatchNormAct.__name__ = f"BatchNormAct{dims}d"
    return BatchNormAct


def _layer(m: nn.Module):
    """The torch.nn layer that computes what the minigan layer m computes (its values not yet copied)."""
    tnn = require_torch().nn
    if isinstance(m, nn.Linear):
        return tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if isinstance(m, nn.Conv2d):
        return tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                          bias=m.bias is not None)
    if isinstance(m, nn.ConvTranspose2d):
        return tnn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                   m.output_padding, bias=m.bias is not None, dilation=m.dilation)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        options = {"eps": m.eps, "momentum": m.momentum, "affine": m.affine,
                   "track_running_stats": m.track_running_stats}
        dims = 1 if isinstance(m, nn.BatchNorm1d) else 2
        if m.negative_slope is not None:
            return _batch_norm_act(dims)(m.num_features, m.negative_slope, **options)
        return (tnn.BatchNorm1d if dims == 1 else tnn.BatchNorm2d)(m.num_features, **options)
    simple = {nn.ReLU: lambda: tnn.ReLU(), nn.Tanh: lambda: tnn.Tanh(), nn.Sigmoid: lambda: tnn.Sigmoid(),
              nn.LeakyReLU: lambda: tnn.LeakyReLU(m.negative_slope),
              nn.Flatten: lambda: tnn.Flatten(m.start_dim, m.end_dim),
              nn.Unflatten: lambda: tnn.Unflatten(m.dim, tuple(m.unflattened_size))}
    if type(m) in simple:
        return simple[type(m)]()
    if isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward:
        return tnn.Sequential(OrderedDict((name, _layer(child)) for name, child in m.named_children()))
    raise TypeError(f"no PyTorch twin for {type(m).__name__}: twins cover the standard layers and nn.Sequential")


def torch_twin(module: nn.Module):
    """A torch.nn.Module computing what `module` computes, with its parameter and buffer names, holding copies of
    its values (in its dtype), in its training or evaluation mode."""
    torch = require_torch()
    twin = _layer(module)
    state = {name: torch.from_numpy(value.numpy().copy()) for name, value in module.state_dict().items()}
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    if floats:
        twin.to(floats[0])
    twin.load_state_dict(state)
    return twin.train(module.training)
