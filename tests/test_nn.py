"""minigan.nn without PyTorch: Module bookkeeping (registration, traversal, state_dict, modes, conversions),
containers, dropout, and errors that name the layer. Parity with torch.nn is in test_nn_torch.py."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import minigan as mg
from minigan import nn


def small_net():
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.LeakyReLU(0.2), nn.Linear(3, 2))


def x_batch(*shape, seed=0):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


class Affine(nn.Module):
    """A hand-written module: a parameter, a buffer, a non-persistent buffer and a sub-module."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(mg.ones(3))
        self.register_buffer("offset", mg.zeros(3))
        self.register_buffer("cache", mg.zeros(3), persistent=False)
        self.inner = nn.Linear(3, 3)

    def forward(self, x):
        return self.inner(x) * self.scale + self.offset


# ---- Parameter ----
def test_parameter_requires_grad_shares_data_and_reprs():
    t = mg.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, mg.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is t.data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    assert "requires_grad=True" in repr(p)


# ---- registration and traversal ----
def test_attributes_register_parameters_buffers_and_modules():
    m = Affine()
    assert [n for n, _ in m.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    assert [n for n, _ in m.named_buffers()] == ["offset", "cache"]
    assert list(m.state_dict()) == ["scale", "offset", "inner.weight", "inner.bias"]  # cache is not persistent
    assert [n for n, _ in m.named_children()] == ["inner"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    assert list(m.parameters())[1] is m.inner.weight
    assert m.scale is m._parameters["scale"]


def test_reassignment_and_deletion_keep_the_tables_consistent():
    m = Affine()
    lin = nn.Linear(2, 2)
    lin.weight = nn.Parameter(mg.zeros(2, 2))  # replaced in place: the order of the table is kept
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    m.scale = None  # a parameter slot can be emptied
    assert [n for n, _ in m.named_parameters(recurse=False)] == []
    with pytest.raises(TypeError, match="parameter 'scale'"):
        m.scale = mg.ones(3)  # a plain Tensor is not a Parameter
    m.offset = mg.ones(3)  # a buffer takes a new Tensor
    assert float(m.state_dict()["offset"].sum()) == 3
    m.inner = nn.Tanh()
    assert [n for n, _ in m.named_parameters()] == []
    del m.inner
    assert not hasattr(m, "inner") and list(m.children()) == []
    m.plain = mg.ones(2)  # a Tensor that is not registered anywhere
    assert "plain" not in m.state_dict()
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", mg.ones(2))


def test_assigning_before_init_fails_clearly():
    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mg.ones(1))

    with pytest.raises(AttributeError, match=r"Module.__init__\(\)"):
        Forgetful()


def test_shared_modules_and_parameters_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3 and len(list(seq.children())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as PyTorch
    other = nn.Linear(2, 2)
    other.weight = lin.weight  # a parameter tied across two modules
    pair = nn.Sequential(lin, other)
    assert [n for n, _ in pair.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_state_dict_shares_data_and_is_detached():
    m = small_net()
    state = m.state_dict()
    assert not state["0.weight"].requires_grad
    state["0.weight"].data[0, 0] = 42.0
    assert m[0].weight.data[0, 0] == 42.0
    assert state["1.num_batches_tracked"].dtype == mg.int64 and state["1.num_batches_tracked"].shape == ()
    kept = m.state_dict(keep_vars=True)
    assert kept["0.weight"] is m[0].weight


# ---- load_state_dict ----
def test_load_state_dict_round_trip_copies_values_and_keeps_objects():
    a, b = small_net(), small_net()
    a.train()(x_batch(5, 4))  # move a's running statistics away from their start
    x = x_batch(6, 4, seed=1)
    weight = b[0].weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert b[0].weight is weight and b[0].weight.data is not a[0].weight.data
    a.eval(), b.eval()
    np.testing.assert_array_equal(b(x).numpy(), a(x).numpy())
    assert int(b[1].num_batches_tracked) == 1
    a[0].weight.data[...] = 0  # a copy, not an alias
    assert np.abs(b[0].weight.numpy()).sum() > 0


def test_load_state_dict_from_numpy_arrays_keeps_dtype():
    a, b = small_net(), small_net().double()
    b.load_state_dict({k: v.numpy() for k, v in a.state_dict().items()})
    assert b[0].weight.dtype == mg.float64 and b[1].num_batches_tracked.dtype == mg.int64
    np.testing.assert_array_equal(b[0].weight.numpy(), a[0].weight.numpy().astype(np.float64))


def test_load_state_dict_strict_errors_name_the_keys():
    m = small_net()
    state = m.state_dict()
    del state["3.bias"]
    state["3.extra"] = mg.zeros(1)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(state)
    message = str(info.value)
    assert "Sequential" in message and '"3.bias"' in message and '"3.extra"' in message
    assert "Missing key(s)" in message and "Unexpected key(s)" in message
    result = m.load_state_dict(state, strict=False)
    assert result.missing_keys == ["3.bias"] and result.unexpected_keys == ["3.extra"]


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_shape_mismatch_names_key_and_shapes_and_copies_nothing(strict):
    m = small_net()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    state = {k: np.full(v.shape, 7.0, dtype=v.dtype) for k, v in m.state_dict().items()}
    state["3.weight"] = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for 3\.weight: .*\(3, 2\).*\(2, 3\)"):
        m.load_state_dict(state, strict=strict)
    for key, value in m.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key])


def test_load_state_dict_rejects_values_that_are_not_arrays():
    m = nn.Linear(2, 1)
    with pytest.raises(RuntimeError, match='"bias".*list'):
        m.load_state_dict({"weight": np.zeros((1, 2)), "bias": [0.0]})


# ---- modes, conversions, gradients ----
def test_train_and_eval_propagate_and_return_the_module():
    outer = nn.Sequential(small_net(), nn.Dropout())
    assert outer.eval() is outer
    assert all(not m.training for m in outer.modules())
    assert outer.train() is outer
    assert all(m.training for m in outer.modules())
    outer[0].train(False)
    assert outer.training and not outer[0][1].training and outer[1].training
    with pytest.raises(TypeError, match="boolean"):
        outer.train("no")


def test_to_float64_converts_in_place_and_keeps_parameter_identity():
    m = small_net()
    params = list(m.parameters())  # what an optimizer would hold
    m(x_batch(5, 4)).sum().backward()
    assert m.to(mg.float64) is m
    assert all(p is q for p, q in zip(params, m.parameters()))
    assert all(p.dtype == mg.float64 and p.grad.dtype == mg.float64 for p in params)
    assert m[1].running_mean.dtype == mg.float64 and m[1].num_batches_tracked.dtype == mg.int64
    assert m(x_batch(5, 4).double()).dtype == mg.float64
    m.float()
    assert all(p.dtype == mg.float32 for p in params)
    m.to("cpu", mg.float64)
    assert all(p.dtype == mg.float64 for p in params)
    with pytest.raises(TypeError, match="floating"):
        m.to(mg.int64)


def test_zero_grad_and_requires_grad():
    m = small_net()
    m(x_batch(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_backward_accumulates_parameter_gradients():
    m = nn.Linear(3, 2)
    x = x_batch(4, 3)
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-6)
    m(x).sum().backward()
    np.testing.assert_allclose(m.bias.grad.numpy(), np.full(2, 2.0 * len(x)))


def test_apply_visits_children_before_the_parent():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Tanh()))
    seen = []
    assert m.apply(lambda module: seen.append(type(module).__name__)) is m
    assert seen == ["Linear", "Tanh", "Sequential", "Sequential"]

    def init_linear(module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.5)

    m.apply(init_linear)
    assert (m[0].weight.numpy() == 0.5).all()


def test_deepcopy_gives_an_independent_module():
    m = small_net()
    c = copy.deepcopy(m)
    assert isinstance(c[0].weight, nn.Parameter) and c[0].weight.requires_grad
    assert list(c.state_dict()) == list(m.state_dict())
    with mg.no_grad():
        c[0].weight.fill_(0)
    assert np.abs(m[0].weight.numpy()).sum() > 0


def test_manual_seed_makes_construction_reproducible():
    def build():
        return nn.Sequential(nn.ConvTranspose2d(4, 3, 4, 2, 1), nn.BatchNorm2d(3), nn.Conv2d(3, 2, 3),
                             nn.Flatten(), nn.Linear(2 * 6 * 6, 1), nn.Embedding(5, 2))

    mg.manual_seed(7)
    first = build().state_dict()
    mg.manual_seed(7)
    second = build().state_dict()
    mg.manual_seed(8)
    third = build().state_dict()
    for key in first:
        np.testing.assert_array_equal(first[key].numpy(), second[key].numpy())
    assert not np.array_equal(first["0.weight"].numpy(), third["0.weight"].numpy())


def test_factory_arguments_set_dtype():
    for layer in (nn.Linear(2, 3, dtype=mg.float64), nn.Conv2d(1, 2, 3, dtype=mg.float64),
                  nn.ConvTranspose2d(1, 2, 3, dtype=mg.float64), nn.BatchNorm2d(2, dtype=mg.float64),
                  nn.Embedding(3, 2, dtype=mg.float64)):
        assert {t.dtype for t in layer.state_dict().values()} <= {mg.float64, mg.int64}


# ---- containers ----
def test_sequential_indexing_slicing_and_append():
    layers = [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"] and head[0] is layers[1]
    x = x_batch(5, 4)
    np.testing.assert_array_equal(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    seq.append(nn.Tanh())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    seq[1] = nn.Sigmoid()
    assert isinstance(seq[1], nn.Sigmoid) and isinstance(seq._modules["1"], nn.Sigmoid)
    with pytest.raises(IndexError, match="out of range"):
        seq[4]


def test_sequential_from_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert seq.fc is seq[0]


def test_module_list_registers_and_renumbers():
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    blocks.append(nn.Linear(2, 1)).extend([nn.Tanh()])
    assert len(blocks) == 4 and [n for n, _ in blocks.named_parameters()][-2:] == ["2.weight", "2.bias"]
    last = blocks[2]
    del blocks[0]
    assert blocks[1] is last and list(blocks._modules) == ["0", "1", "2"]
    blocks.insert(0, nn.ReLU())
    assert isinstance(blocks[0], nn.ReLU) and blocks[2] is last
    assert isinstance(blocks[1:], nn.ModuleList) and len(blocks[1:]) == 3
    holder = nn.Module()
    holder.blocks = blocks
    assert next(n for n, _ in holder.named_parameters()) == "blocks.1.weight"


# ---- layers without a PyTorch counterpart to match draw for draw ----
def test_dropout_scales_kept_values_and_its_gradient_follows_the_mask():
    drop = nn.Dropout(0.3)
    x = mg.tensor(np.random.default_rng(0).uniform(1, 2, (200, 50)), requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / 0.7, rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-12)
    assert drop.eval()(x) is x
    assert not nn.Dropout(1.0)(x).numpy().any()
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_flatten_unflatten_shapes():
    x = x_batch(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Unflatten(-1, (5, 1))(x).shape == (2, 3, 4, 5, 1)
    with pytest.raises(TypeError, match="unflattened_size"):
        nn.Unflatten(1, 12)


def test_batchnorm_counts_batches_only_in_training():
    bn = nn.BatchNorm2d(3)
    x = x_batch(4, 3, 2, 2)
    bn(x), bn(x)
    assert int(bn.num_batches_tracked) == 2
    bn.eval()(x)
    assert int(bn.num_batches_tracked) == 2
    with pytest.raises(RuntimeError):
        bn.train()(x_batch(4, 2, 2, 2))  # a failed call does not count
    assert int(bn.num_batches_tracked) == 2


@pytest.mark.parametrize(("fused", "plain", "shape"), [(nn.BatchNormAct1d, nn.BatchNorm1d, (6, 3)),
                                                       (nn.BatchNormAct2d, nn.BatchNorm2d, (4, 3, 2, 2))])
@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_batch_norm_act_is_batch_norm_then_leaky_relu_in_one_node(fused, plain, shape, slope):
    """The fused layer gives what a batch norm and its activation give (output, running statistics, gradients),
    has the batch norm's state_dict, and is one node of the graph; nn.Sequential fuses nothing by itself."""
    mg.manual_seed(0)
    one = fused(3, slope)
    apart = nn.Sequential(plain(3), nn.LeakyReLU(slope) if slope else nn.ReLU())
    with mg.no_grad():
        one.weight.copy_(mg.randn(3))
        apart[0].weight.copy_(one.weight)
    assert list(one.state_dict()) == list(apart[0].state_dict())
    for training in (True, False):
        one.train(training)
        apart.train(training)
        x = x_batch(*shape, seed=int(training)).requires_grad_()
        y1, y2 = one(x), apart(x)
        np.testing.assert_allclose(y1.numpy(), y2.numpy(), rtol=1e-5, atol=1e-6)
        assert type(y1.grad_fn).__name__ in ("BatchNormFunction", "BatchNormEvalFunction")
        assert type(y2.grad_fn).__name__ == "LeakyReLUFunction"
        g1 = mg.grad(y1.sum(), [x, one.weight])
        g2 = mg.grad(y2.sum(), [x, apart[0].weight])
        for a, b in zip(g1, g2):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(one.running_var.numpy(), apart[0].running_var.numpy(), rtol=1e-6)
    assert f"negative_slope={slope}" in repr(one)


# ---- errors name the layer ----
def test_shape_error_names_the_layer_and_both_shapes():
    with pytest.raises(RuntimeError) as info:
        nn.Linear(4, 2)(x_batch(3, 5))
    message = str(info.value)
    assert message.startswith("Linear(in_features=4, out_features=2, bias=True): ")
    assert "(2, 4)" in message and "(3, 5)" in message


def test_nested_error_is_named_once_by_the_innermost_layer():
    net = nn.Sequential(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Linear(2, 1))
    with pytest.raises(RuntimeError) as info:
        net(x_batch(5, 4))
    message = str(info.value)
    assert info.value.layer == "Linear(in_features=2, out_features=1, bias=True)"
    assert message.startswith(info.value.layer + ": ")
    assert message.count("Linear(") == 1 and "Sequential" not in message
    assert "(5, 3)" in message


@pytest.mark.parametrize("layer, x, error, pieces", [
    (nn.Conv2d(3, 4, 3), x_batch(2, 2, 5, 5), RuntimeError,
     ["Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1)): ", "(4, 3, 3, 3)", "(2, 2, 5, 5)"]),
    (nn.Conv2d(3, 4, 3), x_batch(3, 5, 5), RuntimeError, ["Conv2d(3, 4, ", "4-D", "(3, 5, 5)"]),
    (nn.ConvTranspose2d(2, 3, 4, 2, 1), x_batch(1, 2, 3, 3).double(), TypeError,
     ["ConvTranspose2d(2, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)): ", "float64", "float32"]),
    (nn.Linear(3, 2), x_batch(2, 3).double(), RuntimeError, ["Linear(in_features=3, ", "float64", "float32"]),
    (nn.BatchNorm2d(3), x_batch(4, 3, 5), ValueError, ["BatchNorm2d(3, eps=1e-05, ", "4-D", "(4, 3, 5)"]),
    (nn.BatchNorm1d(3), x_batch(4, 3, 5, 5), ValueError, ["BatchNorm1d(3, ", "2-D", "(4, 3, 5, 5)"]),
    (nn.BatchNorm1d(3), x_batch(4, 5), RuntimeError, ["BatchNorm1d(3, ", "3 channels", "(4, 5)"]),
    (nn.BatchNorm1d(3).double(), x_batch(4, 3), TypeError, ["BatchNorm1d(3, ", "float32", "float64"]),
    (nn.Embedding(4, 2), mg.tensor([[0, 4]]), IndexError, ["Embedding(4, 2): ", "[0, 4)"]),
    (nn.Unflatten(1, (2, 3)), x_batch(2, 5), RuntimeError, ["Unflatten(dim=1, unflattened_size=(2, 3)): ", "(2, 5)"]),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else None)
def test_layer_errors_name_the_layer(layer, x, error, pieces):
    with pytest.raises(error) as info:
        layer(x)
    message = str(info.value)
    assert message.startswith(pieces[0])
    for piece in pieces[1:]:
        assert piece in message


def test_errors_raised_by_a_custom_forward_and_a_missing_forward_name_the_module():
    class Generator(nn.Module):
        def forward(self, z):
            raise ValueError(f"expected a 2-D noise batch, got shape {z.shape}")

    with pytest.raises(ValueError, match=r"^Generator\(\): expected a 2-D noise batch, got shape \(3,\)$"):
        Generator()(mg.zeros(3))
    with pytest.raises(NotImplementedError, match=r'^ModuleList\(\): .*\[ModuleList\] is missing the required "forward"'):
        nn.ModuleList()(mg.zeros(1))


def test_repr_nests_and_indents():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Tanh()))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=2, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): Tanh()\n"
        "  )\n"
        ")"
    )


# ---- load_state_dict is all or nothing; parameter_budget bounds what a model may allocate ----
def test_load_state_dict_copies_nothing_unless_every_value_fits():
    net = nn.Sequential(*[nn.Linear(2, 2) for _ in range(10)])
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    values = {k: np.full(v.shape, 7.0) for k, v in before.items()}
    values["9.bias"] = np.array(["a", "b"])  # the last value cannot be cast
    with pytest.raises(RuntimeError, match=r'"9\.bias".*dtype <U1'):
        net.load_state_dict(values)
    assert all(np.array_equal(v.numpy(), before[k]) for k, v in net.state_dict().items())
    values["9.bias"] = np.array([1, 2], np.int64)  # integers cast to the parameter's float32
    net.load_state_dict(values)
    assert net[9].bias.dtype == np.float32 and net[9].bias.numpy().tolist() == [1, 2]
    assert net[0].weight.numpy().tolist() == [[7, 7], [7, 7]]


@pytest.mark.parametrize("not_a_dict", [[1, 2], "weights", None, mg.zeros(2)])
def test_load_state_dict_wants_a_dict(not_a_dict):
    with pytest.raises(TypeError, match=rf"expected a dict \(a state dict\) of name -> tensor, got "
                                        rf"{type(not_a_dict).__name__}$"):
        nn.Linear(2, 2).load_state_dict(not_a_dict)


def test_parameter_budget_refuses_before_allocating(monkeypatch):
    from minigan.models.layers import MinibatchDiscrimination, VirtualBatchNorm
    from minigan.nn import module

    with module.parameter_budget(2 * 3 + 3):
        nn.Linear(2, 3)  # exactly the budget
    allocated = []
    monkeypatch.setattr(module, "empty", lambda shape, **kw: allocated.append(shape) or mg.zeros(*shape, **kw))
    with module.parameter_budget(100), pytest.raises(ValueError, match=r"needs more than 100 parameters.*\(50, 4\)"):
        nn.Linear(2, 4)  # 12 elements
        nn.Linear(4, 50)  # its weight would bring the model to 212
    assert allocated == [(4, 2), (4,)]
    for make in (lambda: MinibatchDiscrimination(10, 20, 5), lambda: VirtualBatchNorm(200, 4)):
        with module.parameter_budget(100), pytest.raises(ValueError, match="needs more than 100"):
            make()
    with module.parameter_budget(10**6), module.parameter_budget(10), pytest.raises(ValueError, match="than 10 "):
        nn.Linear(4, 4)  # the inner budget counts as well
    assert nn.Linear(100, 100).weight.shape == (100, 100)  # outside any budget, no limit
    vbn = VirtualBatchNorm(3, 4)
    assert isinstance(vbn.weight, nn.Parameter) and vbn.weight.numpy().tolist() == [1, 1, 1]
    assert vbn.bias.numpy().tolist() == [0, 0, 0]
