"""minigan.data.Loader: batches, epochs, shuffling by seed, and resuming exactly from a state_dict."""

import itertools

import numpy as np
import pytest

import minigan as mg
from minigan.data import Dataset, Loader


def numbered(n: int = 23, labelled: bool = True) -> Dataset:
    """A dataset whose sample i holds the value i everywhere, so a batch says which samples it holds."""
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 2, 2)).copy()
    y = (np.arange(n) % 3).astype(np.int64) if labelled else None
    return Dataset("numbered", x, y, num_classes=3 if labelled else 0)


def ids(batch) -> list:
    x, _ = batch
    return x.numpy()[:, 0, 0, 0].astype(int).tolist()


def order(batches) -> list:
    """The sample ids of several batches, in the order they came."""
    return [i for b in batches for i in ids(b)]


def test_batches_are_tensors_of_the_right_shape():
    loader = Loader(numbered(23), batch_size=5)
    assert len(loader) == 4  # 23 // 5 with drop_last
    batches = list(loader)
    assert len(batches) == 4
    for x, y in batches:
        assert isinstance(x, mg.Tensor) and isinstance(y, mg.Tensor)
        assert x.shape == (5, 1, 2, 2) and x.dtype == np.float32 and x.device == "cpu"
        assert y.shape == (5,) and y.dtype == np.int64
        np.testing.assert_array_equal(y.numpy(), x.numpy()[:, 0, 0, 0].astype(int) % 3)  # labels follow samples
        assert not x.requires_grad


def test_unlabelled_batches_have_no_y():
    x, y = next(iter(Loader(numbered(10, labelled=False), 4)))
    assert y is None and x.shape == (4, 1, 2, 2)


def test_every_sample_once_per_epoch():
    loader = Loader(numbered(23), batch_size=5, drop_last=False)
    assert len(loader) == 5
    for _ in range(3):
        batches = list(loader)
        assert [len(ids(b)) for b in batches] == [5, 5, 5, 5, 3]
        assert sorted(order(batches)) == list(range(23))
    dropped = Loader(numbered(23), batch_size=5, drop_last=True)
    seen = order(dropped)
    assert len(seen) == 20 and len(set(seen)) == 20


def test_shuffling_follows_the_seed():
    def orders(seed, epochs=3):
        loader = Loader(numbered(40), 8, seed=seed)
        return [order(loader) for _ in range(epochs)]

    a, b, c = orders(0), orders(0), orders(1)
    assert a == b
    assert a != c
    assert a[0] != a[1] != a[2]  # a new order every epoch
    assert a[0] != list(range(40))
    unshuffled = Loader(numbered(40), 8, shuffle=False)
    assert order(unshuffled) == list(range(40))


def test_batches_runs_across_epochs():
    loader = Loader(numbered(12), 4, seed=3)
    stream = [ids(b) for b in itertools.islice(loader.batches(), 9)]
    reference = Loader(numbered(12), 4, seed=3)
    epochs = [ids(b) for _ in range(3) for b in reference]
    assert stream == epochs
    assert loader.epoch == 2 and loader.position == 3


@pytest.mark.parametrize("taken", [0, 3, 5, 7, 10, 11])  # mid-epoch, at an epoch's end, into later epochs
def test_state_dict_resumes_exactly(tmp_path, taken):
    uninterrupted = Loader(numbered(23), 4, seed=5)  # 5 batches per epoch
    expected = [ids(b) for b in itertools.islice(uninterrupted.batches(), taken + 12)]

    first = Loader(numbered(23), 4, seed=5)
    stream = first.batches()
    before = [ids(next(stream)) for _ in range(taken)]
    mg.save({"loader": first.state_dict()}, tmp_path / "ckpt.safetensors")  # through a real checkpoint file
    state = mg.load(tmp_path / "ckpt.safetensors")["loader"]

    resumed = Loader(numbered(23), 4, seed=123)  # the seed comes from the state
    resumed.load_state_dict(state)
    after = [ids(b) for b in itertools.islice(resumed.batches(), 12)]
    assert before + after == expected
    assert state["epoch"] * 5 + state["position"] == taken


def test_state_dict_through_plain_epoch_iteration():
    loader = Loader(numbered(23), 4, seed=2)
    list(loader)  # a whole epoch
    iterator = iter(loader)
    next(iterator)
    next(iterator)
    state = loader.state_dict()
    assert (state["epoch"], state["position"]) == (1, 2)
    rest = [ids(b) for b in iterator] + [ids(b) for b in loader]
    other = Loader(numbered(23), 4)
    other.load_state_dict(state)
    assert [ids(b) for b in other] + [ids(b) for b in other] == rest


def test_state_dict_holds_plain_values():
    state = Loader(numbered(10), 3).state_dict()

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(w) for k, w in v.items())
        return isinstance(v, (int, float, str, bool, np.ndarray))

    assert plain(state)


def test_load_state_dict_refuses_a_different_setup():
    state = Loader(numbered(23), 4).state_dict()
    with pytest.raises(ValueError, match="num_samples"):
        Loader(numbered(24), 4).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        Loader(numbered(23), 5).load_state_dict(state)
    with pytest.raises(ValueError, match="lacks"):
        Loader(numbered(23), 4).load_state_dict({"epoch": 0})


def test_bad_arguments():
    with pytest.raises(ValueError, match="fewer than one batch"):
        Loader(numbered(3), 4)
    assert len(Loader(numbered(3), 4, drop_last=False)) == 1
    with pytest.raises(ValueError, match="batch_size"):
        Loader(numbered(3), 0)
    with pytest.raises(ValueError, match="device"):
        Loader(numbered(3), 1, device="tpu")


@pytest.mark.gpu
def test_batches_on_the_gpu():
    loader = Loader(numbered(20), 4, seed=1, device="cuda")
    cpu = Loader(numbered(20), 4, seed=1)
    for (x, y), (xc, yc) in zip(loader, cpu):
        assert x.device == "cuda" and y.device == "cuda"
        np.testing.assert_array_equal(x.numpy(), xc.numpy())
        np.testing.assert_array_equal(y.numpy(), yc.numpy())


def test_load_state_dict_redirects_a_running_stream():
    """A trainer may restore a state while its batches() stream is suspended: the stream follows the state."""
    reference = Loader(numbered(23), 4, seed=9)
    expected = [ids(b) for b in itertools.islice(reference.batches(), 8)]
    loader = Loader(numbered(23), 4, seed=9)
    stream = loader.batches()
    for _ in range(6):
        next(stream)
    fresh = Loader(numbered(23), 4, seed=9)
    loader.load_state_dict(fresh.state_dict())  # back to the very start
    assert [ids(next(stream)) for _ in range(8)] == expected
