"""minigan.optim without PyTorch: update rules checked by hand, parameter groups, zero_grad, argument errors,
and state dicts that resume a run exactly, also through minigan.save / minigan.load."""

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan.optim import SGD, Adam, Optimizer, RMSprop

CONFIGS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (Adam, {"lr": 1e-2}),
    (Adam, {"lr": 1e-2, "betas": (0.5, 0.999), "weight_decay": 0.1, "amsgrad": True}),
    (RMSprop, {}),
    (RMSprop, {"momentum": 0.9, "centered": True, "weight_decay": 0.1}),
]
IDS = [f"{cls.__name__}-{kw}" for cls, kw in CONFIGS]


def make_problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = [mg.tensor((0.5 * rng.standard_normal(shape)).astype(dtype), requires_grad=True)
              for shape in [(8, 5), (8,), (3, 8), (3,)]]
    x = mg.tensor(rng.standard_normal((16, 5)).astype(dtype))
    y = mg.tensor(rng.standard_normal((16, 3)).astype(dtype))
    return params, x, y


def loss_fn(params, x, y):
    w1, b1, w2, b2 = params
    return ((F.linear(F.tanh(F.linear(x, w1, b1)), w2, b2) - y) ** 2).mean()


def train_step(opt, params, x, y):
    opt.zero_grad()
    loss_fn(params, x, y).backward()
    opt.step()


def clone_params(params):
    return [mg.tensor(p.numpy().copy(), requires_grad=True) for p in params]


# ---- the update rules, written out by hand ----
def test_sgd_steps_by_hand():
    p = mg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    g1, g2 = np.array([0.5, 1.0, -1.5]), np.array([-1.0, 0.25, 2.0])
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)
    p0 = p.numpy().copy()
    p.grad = mg.tensor(g1)
    opt.step()
    d1 = g1 + 0.01 * p0  # the first step: the buffer is the gradient itself, no dampening
    p1 = p0 - 0.1 * d1
    np.testing.assert_allclose(p.numpy(), p1, rtol=1e-15)
    p.grad = mg.tensor(g2)
    opt.step()
    buf = 0.9 * d1 + 0.5 * (g2 + 0.01 * p1)
    np.testing.assert_allclose(p.numpy(), p1 - 0.1 * buf, rtol=1e-15)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], buf, rtol=1e-15)


@pytest.mark.parametrize("dampening", [0.1, 0.9])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_sgd_dampening_steps_by_hand(dampening, device):
    """The buffer takes (1 - dampening) of each gradient after the first (which it takes whole): at 0.5 the two
    readings agree, so other values are needed to tell them apart."""
    p = mg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, device=device)
    g1, g2 = np.array([0.5, 1.0, -1.5]), np.array([-1.0, 0.25, 2.0])
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=dampening)
    p.grad = mg.tensor(g1, device=device)
    opt.step()
    p1 = np.array([1.0, -2.0, 3.0]) - 0.1 * g1
    np.testing.assert_allclose(p.numpy(), p1, rtol=1e-15)
    p.grad = mg.tensor(g2, device=device)
    opt.step()
    buf = 0.9 * g1 + (1 - dampening) * g2
    np.testing.assert_allclose(p.numpy(), p1 - 0.1 * buf, rtol=1e-15)
    np.testing.assert_allclose(mg.backend.to_device(opt.state[p]["momentum_buffer"], "cpu"), buf, rtol=1e-15)


def test_nesterov_steps_by_hand():
    p = mg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    g = np.array([0.5, 1.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(2):
        p.grad = mg.tensor(g)
        opt.step()
    buf = 0.9 * g + g
    np.testing.assert_allclose(p.numpy(), [1.0, -2.0] - 0.1 * (g + 0.9 * g) - 0.1 * (g + 0.9 * buf), rtol=1e-15)


def test_adam_steps_by_hand():
    p = mg.tensor(np.array([1.0, -2.0, 3.0, 0.0]), requires_grad=True)
    grads = [np.array([0.5, -1.0, 1e-3, 2.0]), np.array([-0.5, 0.25, 3.0, 2.0])]
    lr, (b1, b2), eps = 0.01, (0.8, 0.99), 1e-3
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps, amsgrad=True)
    expected, m, v, vmax = p.numpy().copy(), 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        p.grad = mg.tensor(g)
        opt.step()
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        expected = expected - lr * (m / (1 - b1**t)) / (np.sqrt(vmax / (1 - b2**t)) + eps)
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-14)
    assert opt.state[p]["step"] == 2


def test_rmsprop_centered_steps_by_hand():
    p = mg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    grads = [np.array([0.5, -1.0, 2.0]), np.array([-0.5, 0.25, 2.5]), np.array([1.0, 1.0, -1.0])]
    lr, alpha, eps, momentum = 0.01, 0.9, 1e-8, 0.5
    opt = RMSprop([p], lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=True)
    expected, v, gavg, buf = p.numpy().copy(), 0.0, 0.0, 0.0
    for g in grads:
        p.grad = mg.tensor(g)
        opt.step()
        v, gavg = alpha * v + (1 - alpha) * g * g, alpha * gavg + (1 - alpha) * g
        buf = momentum * buf + g / (np.sqrt(v - gavg**2) + eps)
        expected = expected - lr * buf
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-14)


# ---- what step touches and what it leaves alone ----
@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
def test_step_updates_in_place_and_never_writes_grads(cls, kwargs):
    params, x, y = make_problem()
    unused = mg.tensor(np.arange(4.0), requires_grad=True)
    opt = cls(params + [unused], **kwargs)
    arrays = [p.data for p in params]
    for _ in range(3):
        opt.zero_grad()
        loss_fn(params, x, y).backward()
        grads = [p.grad.numpy().copy() for p in params]
        for p in params:  # a read-only gradient: step fails if it writes into it
            p.grad = mg.Tensor(np.broadcast_to(p.grad.data, p.shape))
        opt.step()
        for p, g in zip(params, grads):
            assert np.array_equal(p.grad.numpy(), g)
    assert all(p.data is a for p, a in zip(params, arrays)), "step replaced a parameter's array"
    assert all(p.grad_fn is None and p.requires_grad for p in params)
    assert unused.grad is None and np.array_equal(unused.numpy(), np.arange(4.0))
    assert unused not in opt.state


@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
def test_float32_stays_float32(cls, kwargs):
    params, x, y = make_problem(np.float32)
    opt = cls(params, **kwargs)
    for _ in range(3):
        train_step(opt, params, x, y)
    assert all(p.dtype == np.float32 for p in params)
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
def test_zero_stride_gradient(cls, kwargs):
    """A gradient may be a read-only broadcast of one value (strides 0): state made from it is writable."""
    p = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    opt = cls([p], **kwargs)
    for _ in range(3):
        p.grad = mg.Tensor(np.broadcast_to(np.float64(0.5), p.shape))
        opt.step()
    assert p.grad.data.strides == (0, 0) and np.all(p.grad.numpy() == 0.5)
    assert np.all(p.numpy() < np.arange(6.0).reshape(2, 3)), "a positive gradient must decrease every entry"


def test_step_with_closure():
    params, x, y = make_problem()
    opt = SGD(params, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = loss_fn(params, x, y)
        loss.backward()
        return loss

    with mg.no_grad():
        first = opt.step(closure).item()
    assert opt.step(closure).item() < first


def test_zero_grad():
    params, x, y = make_problem()
    opt = SGD(params, lr=0.1)
    loss_fn(params, x, y).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    loss_fn(params, x, y).backward()
    old = [p.grad for p in params]
    for p in params:
        p.grad = mg.Tensor(np.broadcast_to(p.grad.data, p.shape))  # read-only
    opt.zero_grad(set_to_none=False)
    for p, g in zip(params, old):
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == p.dtype
        assert not p.grad.numpy().any() and g.numpy().any()
    before = [p.numpy().copy() for p in params]
    opt.step()  # zero gradients: plain SGD leaves the parameters as they are
    assert all(np.array_equal(p.numpy(), b) for p, b in zip(params, before))


def test_param_groups_have_their_own_hyperparameters():
    params, x, y = make_problem()
    before = [p.numpy().copy() for p in params]
    opt = Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.0, "betas": (0.5, 0.9)}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.0]
    assert opt.param_groups[0]["betas"] == (0.9, 0.999) and opt.param_groups[1]["betas"] == (0.5, 0.9)
    train_step(opt, params, x, y)
    assert not np.array_equal(params[0].numpy(), before[0])
    assert np.array_equal(params[2].numpy(), before[2]) and np.array_equal(params[3].numpy(), before[3])


def test_add_param_group():
    params, x, y = make_problem()
    opt = SGD(params[:2], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": params[2:], "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    w2 = params[2].numpy().copy()
    train_step(opt, params, x, y)
    np.testing.assert_allclose(params[2].numpy(), w2 - 0.01 * params[2].grad.numpy(), rtol=1e-15)
    with pytest.raises(ValueError, match="given twice"):
        opt.add_param_group({"params": [params[0]]})


# ---- argument errors ----
@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda p: SGD(p, lr=-0.1), ValueError, "invalid learning rate -0.1"),
    (lambda p: Adam(p, lr=-1e-3), ValueError, "invalid learning rate"),
    (lambda p: RMSprop(p, lr=-1e-2), ValueError, "invalid learning rate"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), ValueError, r"beta1 1.0: must be in \[0, 1\)"),
    (lambda p: Adam(p, betas=(-0.1, 0.999)), ValueError, "invalid beta1"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), ValueError, "invalid beta2"),
    (lambda p: Adam(p, eps=-1.0), ValueError, "invalid eps"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.5), ValueError, "invalid momentum"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda p: RMSprop(p, alpha=-0.1), ValueError, "invalid alpha"),
    (lambda p: Adam([{"params": p, "lr": -1.0}]), ValueError, "invalid learning rate"),
    (lambda p: SGD(p + [p[0]], lr=0.1), ValueError, "parameter 4 of group 0.*given twice"),
    (lambda p: SGD([{"params": p[:2]}, {"params": p[1:]}], lr=0.1), ValueError, "given twice"),
    (lambda p: SGD(p + [np.ones(3)], lr=0.1), TypeError, "only optimize Tensors.*ndarray"),
    (lambda p: SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda p: SGD(p[0], lr=0.1), TypeError, "iterable of Tensors"),
    (lambda p: SGD(set(p), lr=0.1), TypeError, "not a set"),
    (lambda p: SGD([p[0] * 2], lr=0.1), ValueError, "not a leaf"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_argument_errors(make, error, match):
    params, _, _ = make_problem()
    with pytest.raises(error, match=match):
        make(params)


# ---- state dicts ----
def _walk(obj):
    yield obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _walk(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _walk(value)


def test_state_dict_shape():
    params, x, y = make_problem()
    opt = Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.1}], amsgrad=True)
    train_step(opt, params, x, y)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2, 3]]
    assert sd["param_groups"][1] == {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                     "amsgrad": True, "params": [1, 2, 3]}
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert set(sd["state"][2]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][2]["step"] == 1 and sd["state"][2]["exp_avg"].shape == params[2].shape
    allowed = (np.ndarray, int, float, bool, str, type(None), dict, list, tuple)
    assert all(isinstance(item, allowed) for item in _walk(sd))
    snapshot = sd["state"][0]["exp_avg"].copy()
    train_step(opt, params, x, y)
    assert np.array_equal(sd["state"][0]["exp_avg"], snapshot), "the state dict changed with later steps"


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "save-load"])
@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
def test_resume_from_state_dict_continues_exactly(cls, kwargs, through_file, tmp_path):
    params, x, y = make_problem()
    opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}], **kwargs)
    for _ in range(5):
        train_step(opt, params, x, y)
    state = {"params": [p.numpy().copy() for p in params], "optim": opt.state_dict()}
    if through_file:
        mg.save(state, tmp_path / "ckpt.safetensors")
        state = mg.load(tmp_path / "ckpt.safetensors")
    resumed = [mg.tensor(a, requires_grad=True) for a in state["params"]]
    opt2 = cls([{"params": resumed[:2]}, {"params": resumed[2:]}], **kwargs)
    opt2.load_state_dict(state["optim"])
    assert opt2.param_groups[1]["lr"] == 0.05
    for step in range(5):
        train_step(opt, params, x, y)
        train_step(opt2, resumed, x, y)
        for p, q in zip(params, resumed):
            assert np.array_equal(p.numpy(), q.numpy()), f"step {step} after resuming differs"


def test_load_state_dict_casts_and_copies():
    params, x, y = make_problem()
    opt = RMSprop(params, momentum=0.5)
    train_step(opt, params, x, y)
    sd = opt.state_dict()
    params32 = [mg.tensor(p.numpy().astype(np.float32), requires_grad=True) for p in params]
    opt32 = RMSprop(params32, momentum=0.5)
    opt32.load_state_dict(sd)
    buf = opt32.state[params32[0]]["momentum_buffer"]
    assert buf.dtype == np.float32 and opt32.state[params32[0]]["step"] == 1
    sd["state"][0]["momentum_buffer"][...] = 123.0
    assert not np.any(buf == 123.0), "the optimizer shares arrays with the state dict it loaded"


@pytest.mark.parametrize(("edit", "match"), [
    (lambda sd: sd["param_groups"].pop(), "1 parameter group.*this optimizer has 2"),
    (lambda sd: sd["param_groups"][1]["params"].pop(), "group 1 has 1 parameter.*and 2 in this optimizer"),
    (lambda sd: sd["state"][3].update(exp_avg=np.zeros(4)), r"'exp_avg' of parameter 3 has shape \(4,\)"),
    (lambda sd: sd["state"].update({7: {}}), "parameter 7"),
    (lambda sd: sd.pop("state"), "'state' and 'param_groups'"),
])
def test_load_state_dict_errors_leave_the_optimizer_unchanged(edit, match):
    params, x, y = make_problem()
    opt = Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
    train_step(opt, params, x, y)
    sd = opt.state_dict()
    edit(sd)
    fresh = Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.5)
    with pytest.raises(ValueError, match=match):
        fresh.load_state_dict(sd)
    assert fresh.state == {} and fresh.param_groups[0]["lr"] == 0.5


def test_optimizer_subclass_contract():
    """A new optimizer states only its update; the base class does the rest."""

    class SignSGD(Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        def update(self, param, grad, state, group):
            param -= group["lr"] * np.sign(grad)

    p = mg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    p.grad = mg.tensor([3.0, -0.5])
    SignSGD([p], lr=0.5).step()
    assert np.array_equal(p.numpy(), [0.5, -0.5])


@pytest.mark.gpu
@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
def test_cuda_matches_cpu(cls, kwargs):
    params, x, y = make_problem()
    gpu = [p.detach().to("cuda").requires_grad_() for p in params]
    opt, opt_gpu = cls(params, **kwargs), cls(gpu, **kwargs)
    xg, yg = x.to("cuda"), y.to("cuda")
    for _ in range(5):
        train_step(opt, params, x, y)
        train_step(opt_gpu, gpu, xg, yg)
    for p, q in zip(params, gpu):
        assert q.device == "cuda"
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-10, atol=1e-12)
    assert all(mg.backend.device_of(v) == "cuda" for s in opt_gpu.state.values() for v in s.values()
               if not isinstance(v, int))
