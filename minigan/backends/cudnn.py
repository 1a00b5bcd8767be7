"""torch.backends.cudnn's flags, for scripts that set them.

minigan does not use cuDNN: its kernels choose their algorithm from the shapes alone (nothing is autotuned) and
compute the same result on every run, so `benchmark` and `deterministic` change nothing; they only hold what
was set. `enabled` is False for the same reason.
"""

benchmark: bool = False
deterministic: bool = False
enabled: bool = False


def is_available() -> bool:
    """False: minigan's kernels do not use cuDNN."""
    return False


__all__ = ["benchmark", "deterministic", "enabled", "is_available"]
