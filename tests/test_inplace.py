"""In-place changes and the version counter: every in-place change bumps a tensor's version (shared by the views
of its memory), and a backward that needs a value changed since its forward raises instead of giving a wrong
gradient. Which changes raise is checked against PyTorch where it is installed."""

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan import nn
from minigan.optim import SGD, Adam, RMSprop

MODIFIED = "modified by an inplace operation"


# ---- the two reproductions ----

def test_optimizer_step_between_forward_and_backward_raises():
    w = mg.tensor([1.0], requires_grad=True)
    y = (w * w).sum()
    opt = SGD([w], lr=1.0)
    w.grad = mg.tensor([2.0])
    opt.step()
    message = (r"Mul.backward: input 0 \(shape \(1,\), float32\), saved for the gradient, was modified in place "
               r"\(version 0 when saved, 1 now\)")
    with pytest.raises(RuntimeError, match=message):
        y.backward()


def test_fill_after_use_raises():
    w, x = mg.tensor([1.0], requires_grad=True), mg.tensor([1.0])
    y = (w * x).sum()
    x.fill_(5.0)
    with pytest.raises(RuntimeError, match=r"Mul.backward: input 1 .*version 0 when saved, 1 now"):
        y.backward()


# ---- what bumps the version ----

IN_PLACE = {
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(2.0),
    "copy_": lambda t: t.copy_(mg.ones(3)),
    "add_": lambda t: t.add_(1.0, alpha=2),
    "mul_": lambda t: t.mul_(mg.ones(3)),
    "clamp_": lambda t: t.clamp_(0.0, 1.0),
    "normal_": lambda t: t.normal_(),
    "uniform_": lambda t: t.uniform_(),
    "__setitem__": lambda t: t.__setitem__(0, 5.0),
    "init.uniform_": lambda t: nn.init.uniform_(t),
    "init.normal_": lambda t: nn.init.normal_(t),
    "init.constant_": lambda t: nn.init.constant_(t, 3.0),
    "init.zeros_": lambda t: nn.init.zeros_(t),
    "init.ones_": lambda t: nn.init.ones_(t),
}


@pytest.mark.parametrize("change", IN_PLACE.values(), ids=IN_PLACE.keys())
def test_each_in_place_change_bumps_the_version_once(change):
    t = mg.zeros(3)
    assert t._version == 0
    change(t)
    assert t._version == 1
    change(t)
    assert t._version == 2


@pytest.mark.parametrize("change", IN_PLACE.values(), ids=IN_PLACE.keys())
def test_each_in_place_change_of_a_saved_tensor_raises(change):
    w, x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True), mg.tensor([0.5, 0.25, 2.0])
    y = (w * x).sum()
    change(x)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_version_is_read_only():
    with pytest.raises(AttributeError):
        mg.zeros(2)._version = 3


@pytest.mark.parametrize(("cls", "kwargs"), [(SGD, {"lr": 0.1, "momentum": 0.9}), (Adam, {}), (RMSprop, {})])
def test_optimizers_bump_each_parameter_they_update(cls, kwargs):
    a, b = mg.zeros(2, requires_grad=True), mg.zeros(3, requires_grad=True)
    opt = cls([a, b], **kwargs)
    a.grad = mg.ones(2)
    opt.step()
    assert (a._version, b._version) == (1, 0)  # b has no gradient: it is not updated
    b.grad = mg.ones(3)
    opt.step()
    assert (a._version, b._version) == (2, 1)


def test_batch_norm_in_training_bumps_the_running_statistics():
    bn = nn.BatchNorm1d(3)
    before = bn.running_mean._version, bn.running_var._version
    bn(mg.randn(4, 3))
    assert (bn.running_mean._version, bn.running_var._version) == (before[0] + 1, before[1] + 1)
    bn.eval()
    bn(mg.randn(4, 3))
    assert (bn.running_mean._version, bn.running_var._version) == (before[0] + 1, before[1] + 1)


def test_writes_through_data_keep_the_version():
    """As PyTorch's .data: the escape hatch that autograd does not see."""
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    w.data[...] = np.array([3.0, 4.0], np.float32)
    w.data = w.data * 2
    assert w._version == 0
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [12.0, 16.0])  # the backward reads the new values


# ---- views share the counter of the memory they view ----

VIEWS = {
    "detach": lambda t: t.detach(),
    "reshape": lambda t: t.reshape(3, 2),
    "view": lambda t: t.view(-1),
    "transpose": lambda t: t.T,
    "permute": lambda t: t.permute(1, 0),
    "basic index": lambda t: t[1],
    "slice": lambda t: t[:, 1:],
    "view of a view": lambda t: t[0].reshape(1, 3),
}


@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
def test_a_change_through_a_view_bumps_the_base_and_raises(view):
    w, x = mg.randn(2, 3, requires_grad=True), mg.randn(2, 3)
    y = (w * x).sum()
    v = view(x)
    v.mul_(2.0)
    assert x._version == v._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_a_change_of_the_base_bumps_its_views():
    x = mg.randn(2, 3)
    v = x.T
    x.add_(1.0)
    assert v._version == 1


@pytest.mark.parametrize("copy", [lambda t: t[[0, 1]], lambda t: t.T.reshape(-1), lambda t: t.clone()],
                         ids=["advanced index", "reshape that copies", "clone"])
def test_a_change_of_a_copy_leaves_the_base_alone(copy):
    w, x = mg.randn(2, 3, requires_grad=True), mg.randn(2, 3)
    y = (w * x).sum()
    c = copy(x)
    c.zero_()
    assert x._version == 0
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), x.numpy())


# ---- what is saved: only the values a backward reads ----

def test_a_change_of_an_operand_that_the_gradient_does_not_read_is_allowed():
    w, x = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0, 4.0])
    y = (w + x).sum()
    x.fill_(5.0)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


def test_the_weight_is_not_saved_when_the_other_operand_needs_no_gradient():
    """d(w x)/dw reads x only, so a step of w between forward and backward is allowed, as in PyTorch."""
    w, x = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0, 4.0])
    y = (w * x).sum()
    with mg.no_grad():
        w.add_(1.0)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize("fn", [mg.exp, mg.tanh, mg.sigmoid, mg.sqrt, lambda t: t.log_softmax(0)],
                         ids=["exp", "tanh", "sigmoid", "sqrt", "log_softmax"])
def test_a_change_of_a_saved_output_raises(fn):
    w = mg.tensor([0.5, 1.5], requires_grad=True)
    out = fn(w)
    y = out.sum()
    with mg.no_grad():
        out.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"\.backward: output 0 \(shape \(2,\), float32\).*version 0 when saved, "
                                           r"1 now"):
        y.backward()


@pytest.mark.parametrize("layer", [lambda: nn.Linear(3, 2), lambda: nn.Conv2d(1, 2, 3, padding=1),
                                   lambda: nn.ConvTranspose2d(1, 2, 3)], ids=["linear", "conv2d", "conv_transpose2d"])
def test_a_step_of_a_layer_between_its_forward_and_its_input_gradient_raises(layer):
    layer = layer()
    x = mg.randn(2, 3) if isinstance(layer, nn.Linear) else mg.randn(2, 1, 4, 4)
    x.requires_grad_()
    y = layer(x).sum()
    opt = SGD(layer.parameters(), lr=0.1)
    for p in layer.parameters():
        p.grad = mg.ones_like(p)
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


# ---- what keeps working ----

def test_a_change_before_use_is_seen_by_the_gradient():
    w, x = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([1.0, 1.0])
    x.fill_(3.0)
    x[1] = 4.0
    (w * x).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


def test_a_change_of_a_leaf_under_no_grad_then_a_fresh_forward():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    with mg.no_grad():
        p.add_(mg.tensor([1.0, 1.0]))
    p.grad = None
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [4.0, 6.0])
    assert p._version == 1


@pytest.mark.parametrize(("cls", "kwargs"), [(SGD, {"lr": 0.05, "momentum": 0.9}), (Adam, {"lr": 0.01})])
def test_a_gan_training_loop_steps_between_separate_iterations(cls, kwargs):
    """The usual GAN step, with batch norm in both networks (its running statistics change in every forward): D
    steps on a detached fake batch, then G's loss runs D again on the same fake batch and walks back into G's
    graph, made before D's step."""
    mg.manual_seed(1)
    g = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    d = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    opt_g, opt_d = cls(g.parameters(), **kwargs), cls(d.parameters(), **kwargs)
    real = mg.randn(16, 2) + 3
    params = [*g.parameters(), *d.parameters()]
    before = [p._version for p in params]
    for _ in range(4):
        fake = g(mg.randn(16, 2))
        opt_d.zero_grad()
        out_real, out_fake = d(real), d(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(out_real, mg.ones_like(out_real))
                  + F.binary_cross_entropy_with_logits(out_fake, mg.zeros_like(out_fake)))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        out = d(fake)
        F.binary_cross_entropy_with_logits(out, mg.ones_like(out)).backward()
        assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in g.parameters())
        opt_g.step()
    assert [p._version for p in params] == [v + 4 for v in before]


def test_sgd_on_a_quadratic_over_iterations():
    """p <- p - lr * 2p, three times: the versions move, the gradients stay those of the current p."""
    p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    opt = SGD([p], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.numpy(), np.array([1.0, -2.0]) * 0.8 ** 3, rtol=1e-15)


def test_double_backward_is_unaffected():
    x = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((x ** 3).sum(), x, create_graph=True)
    (g * g).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 36 * x.numpy() ** 3, rtol=1e-14)


def test_double_backward_through_a_changed_input_raises():
    x = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((x ** 3).sum(), x, create_graph=True)
    with mg.no_grad():
        x.mul_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        (g * g).sum().backward()


def test_gradient_penalty_then_a_step_then_a_new_penalty():
    """WGAN-GP's critic step, twice: the penalty's graph of one step is never walked after the step."""
    mg.manual_seed(2)
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = Adam(critic.parameters(), lr=1e-3)
    for _ in range(2):
        x = mg.randn(4, 2, requires_grad=True)
        (g,) = mg.grad(critic(x).sum(), x, create_graph=True)
        loss = ((g * g).sum(1) - 1).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        before = critic[0].weight.numpy().copy()
        opt.step()
        assert not np.array_equal(critic[0].weight.numpy(), before)


# ---- the same cases in PyTorch ----

def _grad(lib, y, x, **kwargs):
    return (mg.grad if lib is mg else lib.autograd.grad)(y, x, **kwargs)


def _step(lib, w):
    opt = lib.optim.SGD([w], lr=0.1)
    w.grad = lib.ones_like(w)
    opt.step()


def mul_other_changed(lib, w, x):
    y = (w * x).sum()
    x.fill_(5.0)
    return y


def add_other_changed(lib, w, x):
    y = (w + x).sum()
    x.fill_(5.0)
    return y


def mul_weight_stepped(lib, w, x):
    y = (w * x).sum()
    _step(lib, w)
    return y


def square_stepped(lib, w, x):
    y = (w * w).sum()
    _step(lib, w)
    return y


def matmul_weight_stepped(lib, w, x):
    y = (x.reshape(1, 2) @ w.reshape(2, 1)).sum()
    _step(lib, w)
    return y


def exp_output_changed(lib, w, x):
    e = w.exp()
    y = e.sum()
    with lib.no_grad():
        e.mul_(2.0)
    return y


def tanh_output_changed(lib, w, x):
    t = lib.tanh(w * 2)
    y = (t * x).sum()
    with lib.no_grad():
        t.add_(1.0)
    return y


def leaky_relu_input_changed(lib, w, x):
    h = w * 2
    y = lib.nn.functional.leaky_relu(h, 0.2).sum()
    with lib.no_grad():
        h.mul_(-1.0)
    return y


def view_changed(lib, w, x):
    y = (w * x).sum()
    x.reshape(1, 2)[0, 0] = 7.0
    return y


def transposed_view_changed(lib, w, x):
    m = lib.stack([x, x])
    y = (w.reshape(1, 2) @ m).sum()
    m.t().mul_(3.0)
    return y


def detached_changed(lib, w, x):
    y = (w * w).sum()
    w.detach().add_(1.0)
    return y


def advanced_index_copy_changed(lib, w, x):
    y = (w * x).sum()
    x[[0, 1]].zero_()
    return y


def setitem_changed(lib, w, x):
    y = (w * x).sum()
    x[0] = 7.0
    return y


def data_changed(lib, w, x):
    y = (w * w).sum()
    if lib is mg:
        w.data[...] = 3.0
    else:
        w.data.fill_(3.0)
    return y


def changed_before_use(lib, w, x):
    x.clamp_(0.0, 0.6)
    with lib.no_grad():
        w.add_(1.0)
    return (w * x).sum()


def gradient_of_changed_input(lib, w, x):
    (g,) = _grad(lib, (w ** 3).sum(), w, create_graph=True)
    with lib.no_grad():
        w.mul_(2.0)
    return (g * x).sum()


def gradient_then_unrelated_change(lib, w, x):
    (g,) = _grad(lib, (w * x).sum(), w, create_graph=True)
    with lib.no_grad():
        w.mul_(2.0)
    return (g * g).sum() + (w * 0).sum()


CASES = {  # case: whether the backward raises
    mul_other_changed: True, add_other_changed: False, mul_weight_stepped: False, square_stepped: True,
    matmul_weight_stepped: False, exp_output_changed: True, tanh_output_changed: True,
    leaky_relu_input_changed: True, view_changed: True, transposed_view_changed: True, detached_changed: True,
    advanced_index_copy_changed: False, setitem_changed: True, data_changed: False, changed_before_use: False,
    gradient_of_changed_input: True, gradient_then_unrelated_change: False,
}


def outcome(lib, case):
    """The gradient of w after the case's backward, or None where the backward raised for an in-place change."""
    w = lib.tensor([0.5, -1.5], requires_grad=True)
    x = lib.tensor([0.25, 2.0])
    y = case(lib, w, x)
    w.grad = None
    try:
        y.backward()
    except RuntimeError as e:
        assert MODIFIED in str(e)
        return None
    return w.grad.detach().numpy() if lib is not mg else w.grad.numpy()


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_which_changes_raise(case):
    assert (outcome(mg, case) is None) == CASES[case]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_which_changes_raise_as_in_torch(torch_cpu, case):
    mine, theirs = outcome(mg, case), outcome(torch_cpu, case)
    assert (theirs is None) == CASES[case], "PyTorch disagrees with the expectation written here"
    assert (mine is None) == (theirs is None)
    if mine is not None:
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_a_parameter_built_from_a_tensor_shares_its_version():
    t = mg.zeros(3)
    p = nn.Parameter(t)
    t.fill_(1.0)
    assert p._version == t._version == 1 and p.data[0] == 1.0
