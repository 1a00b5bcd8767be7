"""PyTorch's smaller names in minigan: make_grid and save_image (torchvision.utils), device, cuda.is_available,
the dtype aliases, backends.cudnn's flags and nn.parallel.DataParallel."""

import importlib
import inspect
import io
import pickle

import numpy as np
import pytest

import minigan as mg
import minigan.nn.parallel
from minigan import backend, nn
from minigan.utils import make_grid, save_image

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs PyTorch")


def batch(n=5, c=1, h=2, w=3):
    return mg.tensor(np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w) / (n * c * h * w))


def test_make_grid_lays_images_out_as_torchvision_does():
    x = batch()
    grid = make_grid(x, nrow=3, padding=1, pad_value=-1.0)
    # 2 rows of 3 cells, each cell (2 + 1) x (3 + 1), plus the leading padding; gray is repeated into 3 channels
    assert isinstance(grid, mg.Tensor) and grid.shape == (3, 2 * 3 + 1, 3 * 4 + 1)
    expected = np.full((3, 7, 13), -1.0, np.float32)
    for k in range(5):
        row, col = divmod(k, 3)
        expected[:, 1 + 3 * row:3 + 3 * row, 1 + 4 * col:4 + 4 * col] = x.numpy()[k]
    np.testing.assert_array_equal(grid.numpy(), expected)


def test_make_grid_defaults_and_inputs():
    x = batch(n=10, c=3)
    grid = make_grid(x)  # nrow 8, padding 2, pad value 0
    assert grid.shape == (3, 2 * 4 + 2, 8 * 5 + 2)
    np.testing.assert_array_equal(grid.numpy()[:, 6:8, 2:5], x.numpy()[8])
    assert float(grid.numpy()[:, 6:8, 12:].sum()) == 0.0  # the second row's empty cells are padding
    np.testing.assert_array_equal(make_grid([x[i] for i in range(10)]).numpy(), grid.numpy())
    single = make_grid(batch(n=1))  # one image: as it is, three channels, no padding
    np.testing.assert_array_equal(single.numpy(), np.repeat(batch(n=1).numpy()[0], 3, axis=0))
    assert make_grid(mg.zeros(4, 5)).shape == (3, 4, 5)


def test_make_grid_normalizes_over_the_batch_or_each_image():
    x = mg.tensor(np.array([[[[-2.0, 0.0]]], [[[1.0, 2.0]]]]))
    cells = lambda g: (g.numpy()[0, 2, 2:4], g.numpy()[0, 2, 6:8])
    whole = cells(make_grid(x, normalize=True))
    np.testing.assert_allclose(whole, [[0.0, 0.5], [0.75, 1.0]])
    each = cells(make_grid(x, normalize=True, scale_each=True))
    np.testing.assert_allclose(each, [[0.0, 1.0], [0.0, 1.0]])
    ranged = cells(make_grid(x, normalize=True, value_range=(-1.0, 1.0)))
    np.testing.assert_allclose(ranged, [[0.0, 0.5], [1.0, 1.0]])
    np.testing.assert_array_equal(x.numpy()[0, 0, 0], [-2.0, 0.0])  # the input is left as it was


def read_png(data: bytes) -> np.ndarray:
    pil = pytest.importorskip("PIL.Image")
    return np.asarray(pil.open(io.BytesIO(data)).convert("RGB"))


def test_save_image_writes_the_grid_as_a_png(tmp_path):
    x = batch(n=4, c=3)
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")
    save_image(x, path, nrow=2)
    grid = make_grid(x, nrow=2).numpy()
    expected = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)  # in float32, as torchvision
    np.testing.assert_array_equal(read_png(path.read_bytes()), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # replaced, nothing left beside it
    buffer = io.BytesIO()
    save_image(x, buffer, nrow=2, format="PNG")
    assert buffer.getvalue() == path.read_bytes()
    buffer = io.BytesIO()
    save_image(mg.tensor(np.array([[[[-0.5, 0.0, 0.2, 0.5, 1.0, 2.0, np.nan]]]])), buffer)
    np.testing.assert_array_equal(read_png(buffer.getvalue())[0, :, 0], [0, 0, 51, 128, 255, 255, 0])
    with pytest.raises(ValueError, match="PNG"):
        save_image(x, tmp_path / "a.jpg", format="jpeg")


def test_device_is_a_device_name_with_type_and_index():
    cuda = mg.device("cuda:1")
    assert (cuda.type, cuda.index, str(cuda)) == ("cuda", 1, "cuda:1")
    assert mg.device("cuda", 0) == "cuda:0" and mg.device("cpu").index is None
    assert pickle.loads(pickle.dumps(cuda)).index == 1
    cpu = mg.device("cpu")
    t = mg.zeros(2, device=cpu).to(cpu)
    assert t.device == cpu == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        mg.device("tpu")
    with pytest.raises(ValueError, match="twice"):
        mg.device("cuda:0", 1)
    if torch is not None:
        for name in ("cpu", "cuda", "cuda:1"):
            assert repr(mg.device(name)) == repr(torch.device(name))
            assert (mg.device(name).type, mg.device(name).index) == (torch.device(name).type,
                                                                     torch.device(name).index)


def test_cuda_is_available_says_what_the_backend_finds():
    assert mg.cuda.is_available() is backend.cuda_available()
    if not mg.cuda.is_available():
        with pytest.raises(RuntimeError):
            mg.zeros(1, device=mg.device("cuda"))


def test_dtype_aliases():
    assert (mg.float, mg.double, mg.long) == (np.float32, np.float64, np.int64)
    assert mg.zeros(2, dtype=mg.long).dtype == mg.int64
    if torch is not None:
        for name in ("float", "double", "long", "float32", "float64", "int64"):
            assert str(getattr(torch, name)) == f"torch.{np.dtype(getattr(mg, name))}"


def test_cudnn_flags_exist_with_pytorchs_defaults():
    cudnn = importlib.import_module("minigan.backends.cudnn")
    assert mg.backends.cudnn is cudnn
    assert (cudnn.benchmark, cudnn.deterministic) == (False, False)
    if torch is not None:
        assert (cudnn.benchmark, cudnn.deterministic) == (torch.backends.cudnn.benchmark,
                                                          torch.backends.cudnn.deterministic)


def test_data_parallel_runs_the_module_and_names_its_state_as_pytorch():
    net = nn.Linear(3, 2)
    wrapped = minigan.nn.parallel.DataParallel(net)
    assert wrapped.module is net and nn.DataParallel is minigan.nn.parallel.DataParallel
    x = mg.randn(4, 3)
    np.testing.assert_array_equal(wrapped(x).numpy(), net(x).numpy())
    assert list(wrapped.state_dict()) == ["module.weight", "module.bias"]
    with pytest.raises(ValueError, match="one device"):
        minigan.nn.parallel.DataParallel(net, device_ids=[0, 1])


@needs_torch
def test_data_parallel_signature_and_state_dict_match_pytorchs():
    ours = inspect.signature(minigan.nn.parallel.DataParallel).parameters
    theirs = inspect.signature(torch.nn.DataParallel).parameters
    assert list(ours) == list(theirs)
    assert all(ours[p].default == theirs[p].default for p in ours)
    state = torch.nn.DataParallel(torch.nn.Linear(3, 2)).state_dict()
    wrapped = minigan.nn.parallel.DataParallel(nn.Linear(3, 2))
    wrapped.load_state_dict({k: mg.tensor(v.numpy()) for k, v in state.items()})
    np.testing.assert_array_equal(wrapped.module.weight.numpy(), state["module.weight"].numpy())


def test_is_cuda_says_where_a_tensor_lives():
    assert mg.zeros(2).is_cuda is False
    if mg.cuda.is_available():
        assert mg.zeros(2).to("cuda").is_cuda is True
