"""torch.backends's and torch.device's names: minigan.backends.cudnn's flags, and `device`.

A device is a string: minigan takes device names ('cpu', 'cuda', 'cuda:0') wherever PyTorch takes a
torch.device, so `device` is a str subclass that adds torch.device's `type` and `index`. It can be passed
anywhere minigan takes a device, and compares equal to its name (a Tensor's `device` is the plain name).
"""

from __future__ import annotations

from minigan import backend
from minigan.backends import cudnn


class device(str):
    """A device name, 'cpu' or 'cuda' with an optional index: device("cuda"), device("cuda:0"),
    device("cuda", 0). Making one needs no GPU; using it for a tensor does."""

    def __new__(cls, type: str, index: int | None = None):
        if isinstance(type, device):
            return type
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda', got {type!r}")
        name, _, number = type.partition(":")
        if name not in backend.DEVICES:
            raise ValueError(f"device: unknown device {type!r}: expected 'cpu' or 'cuda'")
        if number and index is not None:
            raise ValueError(f"device: the index is given twice, in {type!r} and as {index!r}")
        if number:
            if not number.isdigit():
                raise ValueError(f"device: invalid index in {type!r}")
            index = int(number)
        if index is not None and index < 0:
            raise ValueError(f"device: index must be non-negative, got {index}")
        self = super().__new__(cls, name if index is None else f"{name}:{index}")
        self.type, self.index = name, index
        return self

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


__all__ = ["cudnn", "device"]
