"""torch.nn.parallel's DataParallel, for one device.

minigan runs a module on one device, so DataParallel wraps a module and runs it as it is: its parameters are
the module's, under the prefix `module.` in state_dict as in PyTorch, and a state dict saved from a PyTorch
DataParallel loads into it.
"""

from __future__ import annotations

from collections.abc import Sequence

from minigan.nn.module import Module


class DataParallel(Module):
    """Run `module` on its own device. device_ids may name at most one device, since minigan does not split a
    batch over devices; output_device and dim are kept for PyTorch's signature and have nothing to do."""

    def __init__(self, module: Module, device_ids: Sequence[int | str] | None = None,
                 output_device: int | str | None = None, dim: int = 0):
        super().__init__()
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError(f"DataParallel: minigan runs a module on one device, got device_ids={device_ids!r}")
        self.module = module
        self.device_ids = [] if device_ids is None else list(device_ids)
        self.output_device, self.dim = output_device, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


__all__ = ["DataParallel"]
