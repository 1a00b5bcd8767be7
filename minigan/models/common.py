"""What the GAN families share: reading sample shapes, layer widths and architectures, labels, and noise."""

from __future__ import annotations

from collections.abc import Sequence

from minigan.tensor import Tensor, randn, tensor


def sizes(value: str | Sequence[int]) -> tuple[int, ...]:
    """Layer widths from '256,256' (as a command line gives them) or from a sequence of ints."""
    items = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(int(v) for v in items if v != "")
    except ValueError:
        raise ValueError(f"layer sizes must be positive integers such as '256,256', got {value!r}") from None
    if not all(v > 0 for v in out):
        raise ValueError(f"layer sizes must be positive integers such as '256,256', got {value!r}")
    return out


def is_image(sample_shape: tuple) -> bool:
    return len(sample_shape) == 3


def check_shape(sample_shape: tuple, model: str) -> tuple:
    """sample_shape as a tuple of positive ints: (D,) for vectors such as 2-D points, (C, H, W) for images."""
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) not in (1, 3) or not all(s > 0 for s in shape):
        raise ValueError(f"{model}: a sample shape must be (D,) for points or (C, H, W) for images, got {sample_shape}")
    return shape


def resolve_arch(arch: str, shape: tuple, model: str) -> str:
    """'mlp' or 'conv'; 'auto' picks mlp for points and conv for images."""
    if arch not in ("auto", "mlp", "conv"):
        raise ValueError(f"{model}: arch must be 'auto', 'mlp' or 'conv', got {arch!r}")
    if arch == "auto":
        return "conv" if is_image(shape) else "mlp"
    if arch == "conv" and not is_image(shape):
        raise ValueError(f"{model}: the conv architecture needs images (C, H, W), got sample shape {shape}")
    return arch


def reference_noise(n: int, nz: int) -> Tensor:
    """The fixed batch of noise whose activations give a generator's virtual batch norm its statistics."""
    return randn(n, nz)


def given_labels(labels, n: int, num_classes: int, device: str, what: str) -> Tensor:
    """labels (a sequence, an array or a Tensor) as an (n,) integer Tensor on device, each in [0, num_classes)."""
    labels = tensor(labels.data if isinstance(labels, Tensor) else labels, device=device).reshape(-1)
    if labels.dtype.kind not in "iu" or labels.shape[0] != n:
        raise ValueError(f"{what}: expected {n} integers, got shape {labels.shape} of {labels.dtype}")
    values = labels.numpy()
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(f"{what} must lie in [0, {num_classes}), got [{values.min()}, {values.max()}]")
    return labels
