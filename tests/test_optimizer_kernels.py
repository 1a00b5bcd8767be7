"""The optimizer updates, adam, sgd and rmsprop: every variant of each on every device present, against the
reference; the reference against torch.optim; and minigan.optim through each variant.

An update is a short chain of elementwise operations, each rounded once; the variants do the reference's
operations in its order and dtype (the CPU Adam kernel fuses them into one pass, without fused multiply-adds), so
they agree with it to the last bit, step after step, in the parameter and in every running average.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
from minigan import dispatch
from minigan.testing import assert_same_bits, host, place, untouched
from minigan.testing.strategies import layouts, seeds

OPERATORS = ("adam", "sgd", "rmsprop")


# ---- each update as one interface: hyperparameters, state, a step ----

@st.composite
def adam_hyperparameters(draw):
    return {"lr": draw(st.sampled_from([2e-4, 1e-2])), "beta1": draw(st.sampled_from([0.0, 0.5, 0.9])),
            "beta2": draw(st.sampled_from([0.999, 0.9])), "eps": draw(st.sampled_from([1e-8, 1e-3])),
            "weight_decay": draw(st.sampled_from([0.0, 0.01])), "amsgrad": draw(st.booleans())}


@st.composite
def sgd_hyperparameters(draw):
    momentum = draw(st.sampled_from([0.0, 0.9]))
    dampening = draw(st.sampled_from([0.0, 0.5]))
    return {"lr": draw(st.sampled_from([0.1, 0.05])), "momentum": momentum, "dampening": dampening,
            "weight_decay": draw(st.sampled_from([0.0, 0.1])),
            "nesterov": momentum > 0 and dampening == 0 and draw(st.booleans())}


@st.composite
def rmsprop_hyperparameters(draw):
    return {"lr": draw(st.sampled_from([1e-2, 1e-3])), "alpha": draw(st.sampled_from([0.99, 0.9])),
            "eps": draw(st.sampled_from([1e-8, 1e-3])), "weight_decay": draw(st.sampled_from([0.0, 0.1])),
            "momentum": draw(st.sampled_from([0.0, 0.5])), "centered": draw(st.booleans())}


HYPERPARAMETERS = {"adam": adam_hyperparameters, "sgd": sgd_hyperparameters, "rmsprop": rmsprop_hyperparameters}


def initial_state(op: str, zeros, hp: dict) -> dict:
    """The running averages an update keeps, as zeros(); None for those the hyperparameters leave out."""
    if op == "adam":
        return {"exp_avg": zeros(), "exp_avg_sq": zeros(), "max_exp_avg_sq": zeros() if hp["amsgrad"] else None}
    if op == "sgd":
        return {"momentum_buffer": None}  # made by the first step
    return {"square_avg": zeros(), "grad_avg": zeros() if hp["centered"] else None,
            "momentum_buffer": zeros() if hp["momentum"] else None}


def step(op: str, kernel, params: list, grads: list, states: list[dict], t: int, hp: dict) -> None:
    """Update number t (from 1) of the parameters and their states, in place, by one call of a variant's kernel."""

    def each(name):
        return None if states[0][name] is None else [s[name] for s in states]

    if op == "adam":
        kernel.update(params, grads, each("exp_avg"), each("exp_avg_sq"), each("max_exp_avg_sq"), [t] * len(params),
                      hp["lr"], hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"])
    elif op == "sgd":
        buffers = kernel.update(params, grads, [s["momentum_buffer"] for s in states], hp["lr"], hp["momentum"],
                                hp["dampening"], hp["weight_decay"], hp["nesterov"])
        for state, buffer in zip(states, buffers, strict=True):
            state["momentum_buffer"] = buffer
    else:
        kernel.update(params, grads, each("square_avg"), each("grad_avg"), each("momentum_buffer"), hp["lr"],
                      hp["alpha"], hp["eps"], hp["weight_decay"], hp["momentum"])


def run_steps(op: str, variant: str, device: str, hp: dict, param: np.ndarray, grads: list, layout: str) -> list:
    """param and every running average after one step per gradient, by `variant` on `device` (the gradients held
    as layout says), as NumPy arrays."""
    kernel = dispatch.kernel(op, variant)
    p = place(param, device)
    state = initial_state(op, lambda: place(np.zeros_like(param), device), hp)
    for t, g in enumerate(grads, start=1):
        g = place(g, device, layout)
        with untouched(g):
            step(op, kernel, [p], [g], [state], t, hp)
    return [host(p)] + [None if s is None else host(s) for s in state.values()]


def assert_equal_states(actual: list, expected: list) -> None:
    for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert (a is None) == (e is None), f"state {k} exists on one side only"
        if e is not None:
            assert_same_bits(a, e, f"{'param' if k == 0 else f'state {k}'}")


# ---- every variant against the reference ----

@settings(max_examples=20)
@given(data=st.data(), size=st.integers(1, 300), dtype=st.sampled_from(["float32", "float64"]), layout=layouts(),
       seed=seeds())
def test_matches_the_reference_bit_for_bit(op, variant, device, data, size, dtype, layout, seed):
    """Four steps from zero state; the gradients non-contiguous as the layout says; the parameter and every
    running average equal the reference's to the last bit."""
    hp = data.draw(HYPERPARAMETERS[op](), label="hyperparameters")
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(4)]
    expected = run_steps(op, "reference", "cpu", hp, param, grads, "contiguous")
    assert_equal_states(run_steps(op, variant, device, hp, param, grads, layout), expected)


FIXED = {  # hyperparameters with every running average in use
    "adam": {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "amsgrad": True},
    "sgd": {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.1, "nesterov": False},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.1, "momentum": 0.5, "centered": True},
}


def test_updates_non_contiguous_arrays_in_place(op, variant, device):
    """A parameter and its running averages may be non-contiguous views (nn.Parameter(w.T) is one): the update
    lands in them, as in contiguous ones (Adam with and without amsgrad)."""
    rng = np.random.default_rng(0)
    param, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(3)]
    kernel = dispatch.kernel(op, variant)
    for hp in [FIXED[op]] + ([{**FIXED[op], "amsgrad": False}] if op == "adam" else []):
        expected = run_steps(op, "reference", "cpu", hp, param, grads, "contiguous")
        p = place(param, device, "transposed")
        state = initial_state(op, lambda: place(np.zeros_like(param), device, "reversed"), hp)
        for t, g in enumerate(grads, start=1):
            step(op, kernel, [p], [place(g, device)], [state], t, hp)
        assert_equal_states([host(p)] + [None if a is None else host(a) for a in state.values()], expected)


def test_one_call_updates_a_list_of_parameters_as_the_reference_updates_each(op, variant, device):
    """Parameters of several shapes (one of more elements than a GPU block's chunk, one of a single element) in one
    call: each ends as the reference's update of it alone, bit for bit, step after step."""
    hp = FIXED[op]
    rng = np.random.default_rng(4)
    shapes = [(3, 4), (5000,), (1,), (7, 2, 3)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(3)]
    expected = [run_steps(op, "reference", "cpu", hp, params[k], [g[k] for g in grads], "contiguous")
                for k in range(len(shapes))]
    kernel = dispatch.kernel(op, variant)
    ps = [place(p, device) for p in params]
    states = [initial_state(op, lambda p=p: place(np.zeros_like(p), device), hp) for p in params]
    for t, g in enumerate(grads, start=1):
        step(op, kernel, ps, [place(a, device) for a in g], states, t, hp)
    for p, state, e in zip(ps, states, expected, strict=True):
        assert_equal_states([host(p)] + [None if a is None else host(a) for a in state.values()], e)


def test_runs_are_bit_reproducible(op, variant, device):
    rng = np.random.default_rng(0)
    param, grads = rng.standard_normal(1001).astype(np.float32), [rng.standard_normal(1001).astype(np.float32)
                                                                  for _ in range(3)]
    first, second = (run_steps(op, variant, device, FIXED[op], param, grads, "contiguous") for _ in range(2))
    assert_equal_states(first, second)


# ---- the reference against torch.optim ----

TORCH = {"adam": ("Adam", lambda hp: {"lr": hp["lr"], "betas": (hp["beta1"], hp["beta2"]), "eps": hp["eps"],
                                      "weight_decay": hp["weight_decay"], "amsgrad": hp["amsgrad"]}),
         "sgd": ("SGD", lambda hp: dict(hp)),
         "rmsprop": ("RMSprop", lambda hp: dict(hp))}
STEPS = 10


@pytest.mark.parametrize("op", OPERATORS)
@settings(max_examples=10)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), seed=seeds())
def test_reference_against_torch(torch_cpu, op, data, dtype, seed):
    """Ten steps of the reference and of torch.optim's single-tensor update, from the same gradients: the
    parameters agree, relative to the largest, within 1e-12 in float64 and one float32 rounding per step (torch
    fuses multiply-adds)."""
    torch = torch_cpu
    hp = data.draw(HYPERPARAMETERS[op](), label="hyperparameters")
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(50).astype(dtype)
    grads = [rng.standard_normal(50).astype(dtype) for _ in range(STEPS)]
    name, options = TORCH[op]
    theirs = torch.tensor(param.copy())
    optimizer = getattr(torch.optim, name)([theirs], foreach=False, **options(hp))
    kernel = dispatch.kernel(op, "reference")
    mine = param.copy()
    state = initial_state(op, lambda: np.zeros_like(param), hp)
    rtol = {"float64": 1e-12, "float32": STEPS * float(np.finfo(np.float32).eps)}[dtype]
    for t, g in enumerate(grads, start=1):
        step(op, kernel, [mine], [g], [state], t, hp)
        theirs.grad = torch.tensor(g)
        optimizer.step()
        e = theirs.numpy()
        np.testing.assert_allclose(mine, e, rtol=rtol, atol=rtol * float(np.abs(e).max()), err_msg=f"step {t}")


# ---- through minigan.optim ----

OPTIMIZERS = {"adam": lambda params, hp: mg.optim.Adam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                                                       eps=hp["eps"], weight_decay=hp["weight_decay"],
                                                       amsgrad=hp["amsgrad"]),
              "sgd": lambda params, hp: mg.optim.SGD(params, **hp),
              "rmsprop": lambda params, hp: mg.optim.RMSprop(params, **hp)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_optimizer_steps_on_the_variant(op, variant, device, selected, dtype):
    """minigan.optim's step on the device, under the selection that picks the variant, is the reference kernel's
    update on the CPU, bit for bit."""
    rng = np.random.default_rng(1)
    param, grads = rng.standard_normal((4, 5)).astype(dtype), [rng.standard_normal((4, 5)).astype(dtype)
                                                               for _ in range(3)]
    p = mg.tensor(param, device=device, requires_grad=True)
    optimizer = OPTIMIZERS[op]([p], FIXED[op])
    for g in grads:
        p.grad = mg.tensor(g, device=device)
        optimizer.step()
    assert p.device == device
    assert_same_bits(p.data, run_steps(op, "reference", "cpu", FIXED[op], param, grads, "contiguous")[0], "param")
