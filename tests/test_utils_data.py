"""minigan.utils.data against torch.utils.data: the same batches in the same order, worker processes that
really load in parallel, and reproducible shuffling."""

import inspect
import multiprocessing
import os
import time

import numpy as np
import pytest

import minigan as mg
import minigan.data
from minigan.utils.data import DataLoader, Dataset, TensorDataset, default_collate

X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
Y = np.arange(10, dtype=np.int64) * 7


def numpy_batches(loader):
    return [[np.asarray(part.numpy()) for part in batch] for batch in loader]


class Squares(Dataset):
    """Item i is (i^2 as a NumPy array, the pid of the process that read it)."""

    def __len__(self):
        return 11

    def __getitem__(self, i):
        return np.array([i * i]), os.getpid()


class Failing(Squares):
    def __getitem__(self, i):
        if i == 5:
            raise KeyError("no item five")
        return super().__getitem__(i)


def test_signature_is_a_prefix_of_pytorchs():
    torch = pytest.importorskip("torch")
    ours = inspect.signature(DataLoader).parameters
    theirs = inspect.signature(torch.utils.data.DataLoader).parameters
    assert list(ours) == list(theirs)[:len(ours)]
    for name in ours:
        assert ours[name].default == theirs[name].default, name


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("batch_size", [1, 3, 5])
def test_batches_match_pytorchs_without_shuffling(batch_size, drop_last):
    torch = pytest.importorskip("torch")
    ours = DataLoader(TensorDataset(mg.tensor(X), mg.tensor(Y)), batch_size, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)),
                                         batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, expected = numpy_batches(ours), [[t.numpy() for t in batch] for batch in theirs]
    assert len(got) == len(expected) == (10 // batch_size if drop_last else -(-10 // batch_size))
    for g, e in zip(got, expected):
        for a, b in zip(g, e):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_default_collate_matches_pytorchs():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    batch = [{"a": np.full((2,), i, np.float32), "b": (i, 0.5 * i), "c": f"s{i}"} for i in range(3)]
    ours, theirs = default_collate(batch), torch_collate(batch)
    assert ours.keys() == theirs.keys()
    np.testing.assert_array_equal(ours["a"].numpy(), theirs["a"].numpy())
    assert isinstance(ours["b"], list) and isinstance(theirs["b"], list)
    for a, b in zip(ours["b"], theirs["b"]):
        assert str(a.dtype) == str(b.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ours["c"] == theirs["c"] == ["s0", "s1", "s2"]


def test_minigan_datasets_yield_x_y_pairs():
    ds = minigan.data.load("digits", n=100)
    batches = list(DataLoader(ds, batch_size=10))
    assert len(batches) == 10
    x, y = batches[3]
    assert isinstance(x, mg.Tensor) and x.shape == (10, *ds.sample_shape) and y.dtype == np.int64
    np.testing.assert_array_equal(x.numpy(), ds.x[30:40])
    np.testing.assert_array_equal(y.numpy(), ds.y[30:40])


def test_workers_give_the_same_batches_from_other_processes():
    serial = list(DataLoader(Squares(), batch_size=2))
    parallel = list(DataLoader(Squares(), batch_size=2, num_workers=2))
    assert len(parallel) == len(serial) == 6
    for (sx, _), (px, _) in zip(serial, parallel):
        np.testing.assert_array_equal(sx.numpy(), px.numpy())
    pids = {int(p) for _, pid in parallel for p in pid.numpy()}
    assert os.getpid() not in pids and len(pids) == 2
    assert not multiprocessing.active_children()  # the workers are gone once the epoch ends


def test_workers_stop_when_the_iteration_is_abandoned():
    it = iter(DataLoader(Squares(), batch_size=1, num_workers=2))
    next(it)
    assert len(multiprocessing.active_children()) == 2
    it.close()
    assert not multiprocessing.active_children()


def test_a_worker_error_names_the_batch_and_the_cause():
    with pytest.raises(RuntimeError, match="(?s)batch 2.*no item five"):
        list(DataLoader(Failing(), batch_size=2, num_workers=2))
    assert not multiprocessing.active_children()


class Slow(Squares):
    def __getitem__(self, i):
        time.sleep(1.0)
        return super().__getitem__(i)


def test_a_worker_slower_than_the_timeout_is_an_error():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))
    assert time.monotonic() - start < 5
    assert not multiprocessing.active_children()


def test_worker_init_fn_runs_in_each_worker():
    seen = multiprocessing.get_context().Queue()
    list(DataLoader(Squares(), batch_size=4, num_workers=2, worker_init_fn=seen.put))
    assert sorted(seen.get(timeout=5) for _ in range(2)) == [0, 1]


def test_seeded_shuffle_is_reproducible_and_new_each_epoch():
    def epochs(generator, n=2):
        loader = DataLoader(TensorDataset(mg.tensor(Y)), batch_size=4, shuffle=True, generator=generator)
        return [np.concatenate([b[0].numpy() for b in loader]) for _ in range(n)]

    first, second = epochs(5)
    assert sorted(first) == sorted(Y) and not np.array_equal(first, Y)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(epochs(5)[0], first)
    np.testing.assert_array_equal(epochs(np.random.default_rng(5))[0], first)
    mg.manual_seed(3)
    unseeded = epochs(None)
    mg.manual_seed(3)
    np.testing.assert_array_equal(epochs(None)[1], unseeded[1])


def test_shuffled_workers_match_the_serial_order():
    serial = DataLoader(Squares(), batch_size=3, shuffle=True, generator=1)
    parallel = DataLoader(Squares(), batch_size=3, shuffle=True, generator=1, num_workers=3)
    for (a, _), (b, _) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_sampler_and_batch_sampler_choose_the_indices():
    data = TensorDataset(mg.tensor(Y))
    assert [b[0].numpy().tolist() for b in DataLoader(data, batch_size=2, sampler=[9, 0, 4])] == [[63, 0], [28]]
    loader = DataLoader(data, batch_sampler=[[1, 2, 3], [0]], num_workers=2)
    assert len(loader) == 2
    assert [b[0].numpy().tolist() for b in loader] == [[7, 14, 21], [0]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(data, batch_size=2, batch_sampler=[[0]])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(), batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(Squares(), num_workers=-1)
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(mg.zeros(3), mg.zeros(4))


def test_abandoning_big_batches_stops_the_workers_at_once():
    big = TensorDataset(mg.zeros(64, 256, 256))  # batches far larger than a pipe's buffer
    it = iter(DataLoader(big, batch_size=8, num_workers=2))
    next(it)
    it.close()
    assert not multiprocessing.active_children()
