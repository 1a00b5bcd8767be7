"""Loader: mini-batches of a Dataset as minigan Tensors, reshuffled every epoch, resumable exactly.

The shuffling generator is a NumPy PCG64 seeded with `seed`; epoch e's order is the permutation it draws at
the start of that epoch. A state_dict holds the epoch, the number of batches already handed out in it and the
generator's state at the start of the epoch (plain ints and dicts), so that load_state_dict can draw the same
permutation again and continue with the very next batch: a resumed run sees the batches an uninterrupted run
would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy

from minigan import backend
from minigan.data.dataset import Dataset
from minigan.tensor import Tensor

_STATE_KEYS = ("epoch", "position", "rng", "num_samples", "batch_size", "shuffle", "drop_last")


class Loader:
    """Batches of a Dataset: iterating yields (x, y) Tensors on `device` for the rest of the current epoch.

    x has shape (batch_size, *dataset.sample_shape); y holds the int64 labels, or is None for unlabelled data.
    With drop_last the last incomplete batch of an epoch is skipped (so every batch has batch_size samples),
    otherwise it is yielded shorter. batches() runs on over epochs without end. The whole dataset is moved to
    the device once, so batches are gathered there.
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True, device: str = "cpu"):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, numpy.integer)) or batch_size < 1:
            raise ValueError(f"Loader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = backend.check_device(device)
        self.num_samples = len(dataset.x)
        if dataset.y is not None and len(dataset.y) != self.num_samples:
            raise ValueError(f"Loader: dataset {dataset.name!r} has {self.num_samples} samples but "
                             f"{len(dataset.y)} labels")
        if len(self) == 0:
            raise ValueError(f"Loader: dataset {dataset.name!r} has {self.num_samples} samples, fewer than one "
                             f"batch of {self.batch_size} (drop_last=True gives no batch at all)")
        self._x = backend.to_device(dataset.x, self.device)
        self._y = None if dataset.y is None else backend.to_device(dataset.y, self.device)
        self._rng = numpy.random.Generator(numpy.random.PCG64(seed))
        self.epoch = 0  # the current epoch (it advances once its last batch has been handed out)
        self.position = 0  # batches of that epoch already handed out
        self._order: numpy.ndarray | None = None  # this epoch's sample order, drawn when its first batch is asked
        self._epoch_rng_state: dict | None = None

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        return self._rest_of_epoch()

    def batches(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        """Batches without end, epoch after epoch, each epoch in a new order (when shuffling)."""
        while True:
            yield from self._rest_of_epoch()

    def _start_epoch(self) -> None:
        self._epoch_rng_state = self._rng.bit_generator.state
        if self.shuffle:
            self._order = self._rng.permutation(self.num_samples)
        else:
            self._order = numpy.arange(self.num_samples)

    def _rest_of_epoch(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        # the cursor is read from self on every step, so a load_state_dict between two batches takes effect
        while True:
            if self._order is None:
                self._start_epoch()
            if self.position >= len(self):
                break
            start = self.position * self.batch_size
            index = self._order[start:start + self.batch_size]
            self.position += 1
            yield self._batch(index)
        self.epoch += 1
        self.position = 0
        self._order = None

    def _batch(self, index: numpy.ndarray) -> tuple[Tensor, Tensor | None]:
        xp = backend.xp_of(self.device)
        index = xp.asarray(index)
        x = Tensor(xp.take(self._x, index, axis=0))
        y = None if self._y is None else Tensor(xp.take(self._y, index, axis=0))
        return x, y

    # ---- resuming ----
    def state_dict(self) -> dict:
        """Where the loader stands, as plain ints, bools and dicts (fit for minigan.save)."""
        rng_state = self._rng.bit_generator.state if self._order is None else self._epoch_rng_state
        return {"epoch": self.epoch, "position": self.position, "rng": rng_state, "num_samples": self.num_samples,
                "batch_size": self.batch_size, "shuffle": self.shuffle, "drop_last": self.drop_last}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a state_dict: the next batch is the one that followed when the state was taken.

        The state must come from a loader over a dataset of the same size with the same batch size, shuffle and
        drop_last (otherwise the batches could not be the same, and ValueError says which setting differs).
        """
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"Loader.load_state_dict: the state lacks {', '.join(missing)}")
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(f"Loader.load_state_dict: the state was taken with {key}={state[key]!r}, this "
                                 f"loader has {key}={getattr(self, key)!r}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position <= len(self):
            raise ValueError(f"Loader.load_state_dict: epoch {epoch} and position {position} are out of range "
                             f"(an epoch has {len(self)} batches)")
        rng = numpy.random.Generator(numpy.random.PCG64())
        try:
            rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"Loader.load_state_dict: the 'rng' entry is not a PCG64 state ({e})") from e
        self._rng, self.epoch, self.position = rng, epoch, position
        self._order = None
        if position > 0:
            self._start_epoch()  # draws this epoch's order again, leaving the generator where it was
