"""Training checkpoints: one safetensors file per saved step under <out>/checkpoints, the last K kept.

A checkpoint holds everything a resumed run needs to continue exactly where the saved one stood: the networks,
the optimizers, the step, minigan's random generator and the data loader's position, and what is needed to
rebuild the model (its name and options, the data's sample shape and classes). Files are written atomically
and read without pickle (minigan.save / minigan.load). A checkpoint is a file from elsewhere like any other:
load_gan checks the model it describes before building it, and builds it within the number of weights the
file stores, so that a few bytes of metadata cannot ask for gigabytes.
"""

from __future__ import annotations

import math
import re
import stat
from pathlib import Path

import numpy

from minigan.models import MODELS, build
from minigan.nn.module import parameter_budget
from minigan.serialization import CheckpointError, load, save
from minigan.tensor import Tensor

FORMAT = "minigan-training"
SUFFIX = ".safetensors"
_NAME = re.compile(r"^step_(\d+)\.safetensors$")
MAX_SIDE = 1024  # the largest dimension of a sample shape a checkpoint may give
MAX_CLASSES = 1000


def checkpoint_dir(out: str | Path) -> Path:
    return Path(out) / "checkpoints"


def checkpoint_path(out: str | Path, step: int) -> Path:
    return checkpoint_dir(out) / f"step_{step:07d}{SUFFIX}"


def checkpoints(out: str | Path) -> list[Path]:
    """The checkpoints under out, oldest first: the regular files (not links) named step_<N>.safetensors."""
    folder = checkpoint_dir(out)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and _is_regular(p)]
    return [p for _, p in sorted(found)]


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:  # deleted meanwhile
        return False


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
    """A training checkpoint's contents; a file that is not one gives a CheckpointError (a ValueError) naming it."""
    state = load(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(path, "not a minigan training checkpoint (a file written by `minigan train`)")
    return state


def read_newest_intact(out: str | Path) -> tuple[Path, dict, list[tuple[Path, str]]]:
    """(path, contents) of the newest checkpoint under out that reads as a training checkpoint, and the newer ones
    that do not, each with the one-line reason, so that a resumed run can fall back to the last intact one and
    say so. FileNotFoundError when out has no checkpoint; CheckpointError when none of them reads."""
    found = checkpoints(out)
    if not found:
        raise FileNotFoundError(f"no checkpoint under {out} (expected {checkpoint_dir(out)}/step_*{SUFFIX})")
    broken = []
    for path in reversed(found):
        try:
            return path, read_checkpoint(path), broken
        except CheckpointError as error:
            broken.append((path, error.problem))
    raise CheckpointError(checkpoint_dir(out), f"none of its {len(found)} checkpoints reads: "
                                               + "; ".join(f"{p.name}: {reason}" for p, reason in broken))


def find_checkpoint(path: str | Path) -> Path:
    """path itself, or for a run folder its latest checkpoint; FileNotFoundError names what is missing, and
    CheckpointError a path that is there but is neither a folder nor a regular file."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"no checkpoint under {path} (expected {checkpoint_dir(path)}/step_*{SUFFIX})")
        return found
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    if not path.is_file():
        raise CheckpointError(path, "not a regular file")
    return path


def load_gan(path: str | Path, ema: bool = True) -> tuple:
    """(gan, checkpoint contents, checkpoint path) for a checkpoint or a run folder's latest one: the GAN rebuilt
    from the checkpoint's metadata with its weights loaded (G's moving average where the run kept one and ema is
    true). The metadata is checked first (model, options, sample shape, classes), and the networks are built
    within the number of weights the file stores. Raises CheckpointError (a ValueError; FileNotFoundError for a
    missing file) naming the file and the problem in one line."""
    path = find_checkpoint(path)
    state = read_checkpoint(path)
    modules = state.get("modules")
    if not isinstance(modules, dict) or not all(isinstance(m, dict) for m in modules.values()):
        raise CheckpointError(path, "the checkpoint does not describe its model (it holds no networks' weights)")
    model, sample_shape, num_classes, options = _checked_meta(path, state.get("meta"))
    stored = sum(math.prod(v.shape) for weights in modules.values() for v in weights.values()
                 if isinstance(v, (Tensor, numpy.ndarray)))
    try:
        with parameter_budget(stored):  # no larger than the weights the file holds
            gan = build(model, sample_shape, num_classes, **options)
        for name, module in gan.networks().items():
            if name not in modules:
                raise ValueError(f"no weights for network {name!r}")
            module.load_state_dict(modules[name])
        if ema and state.get("ema") is not None:
            gan.g.load_state_dict(state["ema"])
    except (ValueError, TypeError, RuntimeError) as error:  # RuntimeError: weights that do not fit the networks
        raise CheckpointError(path, " ".join(str(error).split())) from None
    return gan, state, path


def _checked_meta(path: Path, meta) -> tuple[str, tuple, int, dict]:
    """The model name, sample shape, number of classes and options a checkpoint's metadata gives, checked."""
    def fail(problem: str) -> CheckpointError:
        return CheckpointError(path, f"the checkpoint does not describe its model ({problem})")

    if not isinstance(meta, dict):
        raise fail("no meta dict")
    model = meta.get("model")
    if not isinstance(model, str) or model not in MODELS:
        raise fail(f"model {model!r:.80} is not one of {', '.join(MODELS)}")
    options = meta.get("options")
    if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
        raise fail(f"options {options!r:.80} is not a dict of name -> value")
    shape = meta.get("sample_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) in (1, 3)
            and all(type(s) is int and 1 <= s <= MAX_SIDE for s in shape) and (len(shape) == 1 or shape[0] in (1, 3))):
        raise fail(f"sample_shape must be [D] or [C, H, W] with C 1 or 3 and every size from 1 to {MAX_SIDE}, "
                   f"got {shape!r:.80}")
    num_classes = meta.get("num_classes")
    if type(num_classes) is not int or not 0 <= num_classes <= MAX_CLASSES:
        raise fail(f"num_classes must be an integer from 0 to {MAX_CLASSES}, got {num_classes!r:.80}")
    return model, tuple(shape), num_classes, options
