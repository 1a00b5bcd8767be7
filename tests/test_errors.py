"""Errors name the problem: the operator, and the shapes, dtypes or values that do not fit."""

import re

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F


def t(*shape, dtype="float64", requires_grad=False):
    return mg.tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def shapes(*ss) -> str:
    """A pattern that matches the shapes, in order, anywhere in a message."""
    return ".*".join(re.escape(str(tuple(s))) for s in ss)


# ---- convolutions ----

def test_conv2d_channel_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match="conv2d: weight of shape " + shapes((4, 2, 3, 3)) + ".*2 input channels.*" +
                       shapes((2, 3, 8, 8))):
        F.conv2d(t(2, 3, 8, 8), t(4, 2, 3, 3))


def test_conv2d_needs_4d_input_and_weight():
    with pytest.raises(RuntimeError, match="conv2d: expected a 4-D input.*" + shapes((3, 8, 8))):
        F.conv2d(t(3, 8, 8), t(4, 3, 3, 3))
    with pytest.raises(RuntimeError, match="conv2d: expected a 4-D weight.*" + shapes((4, 3, 3))):
        F.conv2d(t(2, 3, 8, 8), t(4, 3, 3))


def test_conv2d_bias_shape():
    with pytest.raises(RuntimeError, match=r"conv2d: expected bias of shape \(4,\), got \(3,\)"):
        F.conv2d(t(2, 3, 8, 8), t(4, 3, 3, 3), t(3))


def test_conv2d_dtype_mismatch():
    with pytest.raises(TypeError, match="conv2d: input has dtype float32 but weight has dtype float64"):
        F.conv2d(t(2, 3, 8, 8, dtype="float32"), t(4, 3, 3, 3))


def test_conv_transpose2d_channel_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match="conv_transpose2d: weight of shape " + shapes((2, 5, 4, 4)) + ".*2 input channels.*" +
                       shapes((1, 3, 4, 4))):
        F.conv_transpose2d(t(1, 3, 4, 4), t(2, 5, 4, 4))


def test_conv_transpose2d_bias_shape():
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: expected bias of shape \(5,\), got \(3,\)"):
        F.conv_transpose2d(t(1, 3, 4, 4), t(3, 5, 4, 4), t(3))


def test_conv2d_kernel_larger_than_padded_input():
    with pytest.raises(RuntimeError, match=r"conv2d: kernel \(5, 5\).*larger than the padded input \(3, 3\)"):
        F.conv2d(t(1, 1, 3, 3), t(1, 1, 5, 5))
    with pytest.raises(RuntimeError, match=r"conv2d: kernel \(3, 3\) with dilation \(2, 2\).*\(4, 4\)"):
        F.conv2d(t(1, 1, 2, 2), t(1, 1, 3, 3), padding=1, dilation=2)
    assert F.conv2d(t(1, 1, 3, 3), t(1, 1, 5, 5), padding=1).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("name, value", [("stride", 0), ("stride", -1), ("stride", (1, 2, 3)), ("stride", 1.5),
                                         ("stride", "2"), ("padding", -1), ("padding", (0, -2)),
                                         ("padding", (1.0, 1)), ("dilation", 0)])
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_bad_stride_padding_dilation(op, name, value):
    with pytest.raises(ValueError, match=f"{op}: {name} must be an int >= [01] or a pair of them, got "
                                         + re.escape(repr(value))):
        getattr(F, op)(t(1, 2, 5, 5), t(2, 2, 3, 3), **{name: value})


def test_numpy_integers_are_accepted_as_stride_and_padding():
    y = F.conv2d(t(1, 2, 5, 5), t(2, 2, 3, 3), stride=np.int64(2), padding=(np.int32(1), 1))
    assert y.shape == (1, 2, 3, 3)


def test_output_padding_too_large():
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(2, 2\) must be smaller than "
                                         r"stride \(2, 2\) or dilation \(1, 1\)"):
        F.conv_transpose2d(t(1, 2, 4, 4), t(2, 2, 4, 4), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding"):
        F.conv_transpose2d(t(1, 2, 4, 4), t(2, 2, 4, 4), output_padding=(0, 1))


def test_conv_transpose2d_padding_that_leaves_no_output():
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: padding \(2, 2\) leaves an empty output.*" +
                       shapes((1, 2, 1, 1))):
        F.conv_transpose2d(t(1, 2, 1, 1), t(2, 2, 3, 3), padding=2)


# ---- dense layers and batch norm ----

def test_linear_shape_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match="linear: weight of shape " + shapes((4, 2)) + ".*dimension 2.*" +
                       shapes((5, 3))):
        F.linear(t(5, 3), t(4, 2))


def test_linear_bias_shape():
    with pytest.raises(RuntimeError, match=r"linear: expected bias of shape \(4,\), got \(3,\)"):
        F.linear(t(5, 3), t(4, 3), t(3))


def test_batch_norm_channel_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"batch_norm: weight has shape \(2,\), expected \(3,\).*" +
                       shapes((4, 3, 5, 5))):
        F.batch_norm(t(4, 3, 5, 5), None, None, t(2), t(3), training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean has shape \(5,\), expected \(3,\).*" +
                       shapes((4, 3))):
        F.batch_norm(t(4, 3), t(5), t(3))


def test_batch_norm_needs_a_channel_axis():
    with pytest.raises(RuntimeError, match=r"batch_norm: expected an input of shape \(N, C\).*\(5,\)"):
        F.batch_norm(t(5), t(5), t(5))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batch_norm_training_with_one_value_per_channel(shape):
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel when training.*" +
                       shapes(shape)):
        F.batch_norm(t(*shape), None, None, training=True)
    assert F.batch_norm(t(*shape), t(3), t(3), training=False).shape == shape


def test_batch_norm_evaluation_needs_running_statistics():
    with pytest.raises(RuntimeError, match="batch_norm: evaluation .* needs running_mean and running_var"):
        F.batch_norm(t(4, 3), None, None, training=False)


# ---- arithmetic and shapes ----

def test_matmul_inner_dimensions():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) cannot be multiplied \(4 != 5\)"):
        t(3, 4) @ t(5, 2)
    with pytest.raises(RuntimeError, match=r"matmul: batch dimensions of \(2, 3, 4\) and \(3, 4, 2\)"):
        mg.matmul(t(2, 3, 4), t(3, 4, 2))
    with pytest.raises(RuntimeError, match="matmul: both operands need at least one dimension"):
        mg.matmul(t(3), mg.tensor(2.0))


@pytest.mark.parametrize("op, fn", [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
                                    ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b),
                                    ("maximum", mg.maximum)])
def test_broadcasting_mismatch_names_operator_and_shapes(op, fn):
    with pytest.raises(RuntimeError, match=f"{op}: shapes " + shapes((3, 4), (2, 4)) + " cannot be broadcast"):
        fn(t(3, 4), t(2, 4))


def test_cat_and_stack_shape_mismatch():
    with pytest.raises(RuntimeError, match="cat: tensor 1 has shape " + shapes((3, 4)) + ", which does not match " +
                       shapes((2, 3)) + " outside dimension 0"):
        mg.cat([t(2, 3), t(3, 4)])
    with pytest.raises(TypeError, match="cat: tensor 1 has dtype float32, expected float64"):
        mg.cat([t(2, 3), t(2, 3, dtype="float32")])
    with pytest.raises(IndexError, match="cat: dimension 2 is out of range for a tensor with 2 dimensions"):
        mg.cat([t(2, 3), t(2, 3)], 2)
    with pytest.raises(RuntimeError, match="stack: tensor 2 has shape " + shapes((2, 4)) + ", expected " +
                       shapes((2, 3))):
        mg.stack([t(2, 3), t(2, 3), t(2, 4)])
    with pytest.raises(RuntimeError, match="cat: expected a non-empty list"):
        mg.cat([])


def test_reshape_and_expand():
    with pytest.raises(RuntimeError, match="reshape: shape " + shapes((4, 2)) + " is invalid for a tensor of shape " +
                       shapes((2, 3)) + r" \(6 elements\)"):
        t(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match="reshape: shape " + shapes((4, -1)) + " is invalid .* " + shapes((2, 3))):
        t(2, 3).reshape(4, -1)
    with pytest.raises(RuntimeError, match="reshape: only one dimension can be -1"):
        t(2, 3).reshape(-1, -1)
    with pytest.raises(RuntimeError, match="expand: cannot broadcast a tensor of shape " + shapes((2, 3)) + " to " +
                       shapes((4, 3))):
        t(2, 3).expand(4, 3)


def test_dimension_out_of_range():
    with pytest.raises(IndexError, match="sum: dimension 3 is out of range for a tensor with 2 dimensions"):
        t(2, 3).sum(3)
    with pytest.raises(IndexError, match="log_softmax: dimension -3 is out of range"):
        F.log_softmax(t(2, 3), -3)


# ---- losses and lookups ----

@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "binary_cross_entropy", "mse_loss"])
def test_losses_with_mismatched_target(name):
    x = mg.tensor(np.full((4, 3), 0.5))
    with pytest.raises(ValueError, match=f"{name}: target of shape " + shapes((4, 1)) + " does not match input of "
                                         "shape " + shapes((4, 3))):
        getattr(F, name)(x, t(4, 1))


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_class_losses_with_mismatched_target(name):
    target = mg.tensor(np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match=r"nll_loss: expected input \(N, C, ...\) and target \(N, ...\), got " +
                       shapes((4, 3), (5,))):
        getattr(F, name)(t(4, 3), target)
    with pytest.raises(TypeError, match="nll_loss: target must hold integer class indices, got dtype float64"):
        getattr(F, name)(t(4, 3), t(4))


@pytest.mark.parametrize("bad", [3, -1])
def test_nll_loss_class_out_of_range(bad):
    target = mg.tensor(np.array([0, bad, 1, 2]))
    with pytest.raises(IndexError, match=r"nll_loss: target holds classes outside \[0, 3\)"):
        F.nll_loss(t(4, 3), target)
    with pytest.raises(IndexError, match=r"nll_loss: target holds classes outside \[0, 3\)"):
        F.cross_entropy(t(4, 3), target)


def test_binary_cross_entropy_needs_probabilities():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\], "
                                         r"got \[-0.5, 1.5\]"):
        F.binary_cross_entropy(mg.tensor(np.array([-0.5, 1.5])), t(2))


def test_unknown_reduction():
    with pytest.raises(ValueError, match="mse_loss: reduction must be one of .*, got 'average'"):
        F.mse_loss(t(3), t(3), reduction="average")


def test_embedding_index_out_of_range():
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 10\), got \[0, 12\]"):
        F.embedding(mg.tensor(np.array([[0, 12], [3, 4]])), t(10, 4))
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 10\), got \[-1, 3\]"):
        F.embedding(mg.tensor(np.array([-1, 3])), t(10, 4))
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float64"):
        F.embedding(t(3), t(10, 4))


def test_dropout_probability():
    with pytest.raises(ValueError, match="dropout: probability must be in \\[0, 1\\], got 1.5"):
        F.dropout(t(3), 1.5)


# ---- the graph ----

def test_backward_through_a_freed_graph_says_so():
    x = t(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through .* a second time.*freed.*retain_graph=True"):
        y.backward()


def test_grad_through_a_freed_graph_says_so():
    x = t(3, requires_grad=True)
    h = x.exp()
    mg.grad(h.sum(), x)
    with pytest.raises(RuntimeError, match="backward through Exp a second time.*retain_graph=True"):
        mg.grad((h * 2).sum(), x)


def test_retain_graph_allows_a_second_backward():
    x = t(3, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])


def test_grad_of_an_unused_input_says_so():
    x, z = t(3, requires_grad=True), t(2, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"grad: input 1 \(shape \(2,\)\) is not reachable from the outputs; "
                                           "pass allow_unused=True"):
        mg.grad(y, [x, z], retain_graph=True)
    gx, gz = mg.grad(y, [x, z], allow_unused=True)
    assert gz is None
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0, 2.0])


def test_grad_of_an_input_without_requires_grad():
    x = t(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad: input 1 does not require grad"):
        mg.grad((x * 2).sum(), [x, t(3)])


def test_backward_needs_a_scalar_or_a_gradient():
    x = t(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar outputs; output has "
                                           r"shape \(3,\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"grad_outputs has shape \(2,\), but the output has shape \(3,\)"):
        (x * 2).backward(t(2))


def test_backward_of_a_constant_says_so():
    with pytest.raises(RuntimeError, match=r"output of shape \(\) does not require grad"):
        t(3).sum().backward()


def test_in_place_change_of_a_tensor_that_requires_grad():
    x = t(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="mul_: a tensor that requires grad cannot be changed in place"):
        x.mul_(2)
    with mg.no_grad():
        x.mul_(2)
    np.testing.assert_array_equal(x.numpy(), [2.0, 2.0, 2.0])


# ---- devices ----

@pytest.mark.gpu
def test_device_mismatch_names_operator_and_devices():
    a, b = t(3), t(3).to("cuda")
    with pytest.raises(RuntimeError, match=r"Add: inputs are on different devices \(cpu and cuda\)"):
        a + b
    with pytest.raises(RuntimeError, match="Conv2dFunction: inputs are on different devices"):
        F.conv2d(t(1, 2, 4, 4), t(2, 2, 3, 3).to("cuda"))


def test_unknown_device():
    with pytest.raises(ValueError, match="unknown device 'tpu': expected 'cpu' or 'cuda'"):
        t(3).to("tpu")
