"""Training checkpoints: one .npz per saved step under <out>/checkpoints, the last K kept.

A checkpoint holds everything a resumed run needs to continue exactly where the saved one stood: the networks,
the optimizers, the step, minigan's random generator and the data loader's position, and what is needed to
rebuild the model (its name and options, the data's sample shape and classes). Files are written atomically
and read without pickle (minigan.save / minigan.load).
"""

from __future__ import annotations

import re
from pathlib import Path

from minigan.models import build
from minigan.serialization import load, save

FORMAT = "minigan-training"
_NAME = re.compile(r"^step_(\d+)\.npz$")


def checkpoint_dir(out: str | Path) -> Path:
    return Path(out) / "checkpoints"


def checkpoint_path(out: str | Path, step: int) -> Path:
    return checkpoint_dir(out) / f"step_{step:07d}.npz"


def checkpoints(out: str | Path) -> list[Path]:
    """The checkpoints under out, oldest first."""
    folder = checkpoint_dir(out)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(out: str | Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None


def write_checkpoint(out: str | Path, step: int, state: dict, keep: int) -> Path:
    """Save state as the checkpoint of `step` (atomically), then delete all but the newest `keep` checkpoints."""
    path = checkpoint_path(out, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    save({"format": FORMAT, **state, "step": step}, path)
    for old in checkpoints(out)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """A training checkpoint's contents; a file that is not one gives a ValueError naming it."""
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a minigan training checkpoint (a file written by `minigan train`)")
    return state


def find_checkpoint(path: str | Path) -> Path:
    """path itself, or for a run folder its latest checkpoint; FileNotFoundError names what is missing."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"no checkpoint under {path} (expected {checkpoint_dir(path)}/step_*.npz)")
        return found
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    return path


def load_gan(path: str | Path, ema: bool = True) -> tuple:
    """(gan, checkpoint contents, checkpoint path) for a checkpoint or a run folder's latest one: the GAN rebuilt
    from the checkpoint's metadata with its weights loaded (G's moving average where the run kept one and ema is
    true). Raises ValueError (OSError for a missing or unreadable file) naming the problem."""
    path = find_checkpoint(path)
    state = read_checkpoint(path)
    try:
        meta = state["meta"]
        gan = build(meta["model"], tuple(meta["sample_shape"]), meta["num_classes"], **meta["options"])
        for name, module in gan.networks().items():
            module.load_state_dict(state["modules"][name])
        if ema and state.get("ema") is not None:
            gan.g.load_state_dict(state["ema"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path}: the checkpoint does not describe its model ({type(error).__name__}: "
                         f"{error})") from None
    except RuntimeError as error:  # weights that do not fit the rebuilt networks
        raise ValueError(f"{path}: {error}") from None
    return gan, state, path
