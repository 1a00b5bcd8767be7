"""Datasets and a DataLoader with torch.utils.data's names, signatures and batches.

DataLoader works over any indexable dataset (one with __getitem__ and __len__) and over minigan.data's
datasets, whose samples it reads as (x[i], y[i]) pairs (x[i] alone for unlabelled data). Batches are gathered
by `collate_fn`, default_collate by default: it stacks tensors, NumPy arrays and numbers into minigan Tensors,
through tuples, lists and dicts, as PyTorch's default_collate does.

With num_workers > 0, that many worker processes load whole batches: each receives the dataset once (pickled,
or inherited under fork) and then lists of indices, and sends back collated batches, which are yielded in
order. Workers stop when an epoch ends or its iteration is abandoned.

Shuffling draws one permutation per epoch from `generator`: a numpy.random.Generator, or an int seed from
which one is made when the DataLoader is built (so each epoch differs, and the sequence of epochs repeats);
with None, from minigan's CPU generator, which minigan.manual_seed seeds.
"""

from __future__ import annotations

import multiprocessing
import numbers
import pickle
import queue
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy

from minigan import data, random
from minigan.ops import stack
from minigan.tensor import Tensor, tensor


class Dataset:
    """A map-style dataset: subclasses give __getitem__(index) and __len__."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Samples of tensors that share their first dimension: item i is (t[i] for t in tensors)."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        if any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError(f"TensorDataset: size mismatch between tensors: {[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class _Samples(Dataset):
    """A minigan.data.Dataset read sample by sample."""

    def __init__(self, dataset: data.Dataset):
        self.x, self.y = dataset.x, dataset.y

    def __getitem__(self, index):
        return self.x[index] if self.y is None else (self.x[index], self.y[index])

    def __len__(self) -> int:
        return len(self.x)


def default_collate(batch: list):
    """Stack a list of samples into a batch: tensors and NumPy arrays into one Tensor with a new first axis,
    floats into a float64 Tensor and ints into an int64 one, strings into a list; tuples and lists sample-wise into
    a list, dicts key by key."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch)
    if isinstance(elem, (numpy.ndarray, numpy.generic)):
        return tensor(numpy.stack(batch))
    if isinstance(elem, (bool, numpy.bool_)):
        return tensor(numpy.array(batch, dtype=bool))
    if isinstance(elem, numbers.Integral):
        return tensor(numpy.array(batch, dtype=numpy.int64))
    if isinstance(elem, numbers.Real):
        return tensor(numpy.array(batch, dtype=numpy.float64))
    if isinstance(elem, str):
        return batch
    if isinstance(elem, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("default_collate: each element in the batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, strings, dicts or "
                    f"sequences; found {type(elem).__name__}")


class DataLoader:
    """Batches of a dataset, in PyTorch's order: iterating yields collate_fn([dataset[i] for i in indices]) for
    each batch of indices, drawn in order, or shuffled once per epoch, or from `sampler` / `batch_sampler`.

    pin_memory is accepted and does nothing: minigan has no pinned memory (move batches with .to("cuda")).
    timeout, when positive, is how many seconds to wait for a worker's batch before raising. batch_size must be a
    positive int (PyTorch's batch_size=None, for unbatched loading, is not supported).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool | None = None, sampler: Iterable | None = None,
                 batch_sampler: Iterable | None = None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None, multiprocessing_context=None,
                 generator: numpy.random.Generator | int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be non-negative, got {timeout!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                             "sampler, and drop_last")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers = int(num_workers)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.pin_memory, self.drop_last, self.timeout = pin_memory, bool(drop_last), timeout
        self.worker_init_fn = worker_init_fn
        if isinstance(multiprocessing_context, str):
            multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
        self.multiprocessing_context = multiprocessing_context or multiprocessing.get_context()
        self.generator = numpy.random.default_rng(generator) if isinstance(generator, numbers.Integral) else generator
        self._samples = _Samples(dataset) if isinstance(dataset, data.Dataset) else dataset

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self._samples)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self) -> Iterable[int]:
        if self.sampler is not None:
            return self.sampler
        n = len(self._samples)
        if not self.shuffle:
            return range(n)
        rng = random.generator("cpu") if self.generator is None else self.generator
        return rng.permutation(n).tolist()

    def _batches(self) -> Iterator[list[int]]:
        if self.batch_sampler is not None:
            yield from (list(b) for b in self.batch_sampler)
            return
        batch = []
        for i in self._indices():
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return (_fetch(self._samples, self.collate_fn, b) for b in self._batches())
        return self._parallel()

    def _parallel(self) -> Iterator:
        ctx = self.multiprocessing_context
        results = ctx.Queue()
        inboxes = [ctx.Queue() for _ in range(self.num_workers)]
        workers = [ctx.Process(target=_worker_loop, daemon=True,
                               args=(k, self._samples, self.collate_fn, self.worker_init_fn, inboxes[k], results))
                   for k in range(self.num_workers)]
        for w in workers:
            w.start()
        try:
            batches = enumerate(self._batches())
            sent = 0
            for _ in range(2 * self.num_workers):  # two batches in flight per worker
                sent += _send(batches, inboxes, sent)
            ready: dict = {}
            k = 0
            while k < sent:  # every batch not yet yielded has been sent: k == sent means the epoch is over
                while k not in ready:
                    number, ok, value = self._receive(results, workers)
                    ready[number] = (ok, value)
                ok, value = ready.pop(k)
                if not ok:
                    raise RuntimeError(f"DataLoader worker failed on batch {k}:\n{value}")
                sent += _send(batches, inboxes, sent)
                k += 1
                yield pickle.loads(value)
        finally:
            _shutdown(workers, inboxes, results)

    def _receive(self, results, workers) -> tuple:
        """The next (batch number, ok, batch or traceback) from any worker; raises if a worker died or the
        timeout passed."""
        waited, step = 0.0, min(1.0, self.timeout or 1.0)
        while True:
            try:
                return results.get(timeout=step)
            except queue.Empty:
                waited += step
            dead = [w.pid for w in workers if not w.is_alive()]
            if dead:
                raise RuntimeError(f"DataLoader worker (pid {dead[0]}) exited unexpectedly")
            if self.timeout and waited >= self.timeout:
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds")


def _fetch(samples, collate_fn: Callable, indices: list[int]):
    return collate_fn([samples[i] for i in indices])


def _send(batches: Iterator, inboxes: list, sent: int) -> int:
    """Give the next batch of indices to the next worker in turn: 1 if there was one, else 0."""
    for number, indices in batches:
        inboxes[sent % len(inboxes)].put((number, indices))
        return 1
    return 0


def _shutdown(workers: list, inboxes: list, results, grace: float = 5.0) -> None:
    """Tell each worker to stop, and drain the batches still on their way (a worker exits only once what it
    sent has been read); a worker still running after `grace` seconds is terminated."""
    for inbox in inboxes:
        inbox.put(None)
    deadline = time.monotonic() + grace
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        try:
            results.get(timeout=0.05)
        except queue.Empty:
            pass
    for w in workers:
        if w.is_alive():
            w.terminate()
        w.join()
    for q in inboxes + [results]:
        q.close()


def _worker_loop(worker_id: int, samples, collate_fn: Callable, worker_init_fn, inbox, results) -> None:
    """A worker: collate each batch of indices it is given until it is given None. A batch is pickled here, so
    that one which cannot be sent fails its batch instead of being lost."""
    if worker_init_fn is not None:
        worker_init_fn(worker_id)
    while (job := inbox.get()) is not None:
        number, indices = job
        try:
            results.put((number, True, pickle.dumps(_fetch(samples, collate_fn, indices))))
        except Exception:  # noqa: BLE001 - any error of the dataset or collate_fn is reported to the loader
            results.put((number, False, traceback.format_exc()))


__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]
