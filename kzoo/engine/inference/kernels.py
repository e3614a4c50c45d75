"""Torch kernels of inference steps, with their weights prepared once per plan.

:class:`Conv` is a 2D convolution with BatchNormalization folded into its weights,
an optional residual sum and an optional ReLU, run by oneDNN's fused
``mkldnn::_convolution_pointwise`` on weights reordered once into oneDNN's blocked
layout for the plan's input shape (the reorder otherwise happens on every call);
without oneDNN it is ``F.conv2d`` followed by in-place ``add_``/``relu_``. Inputs and
outputs are NCHW tensors in channels-last memory: the permuted *views* of Keras's
NHWC arrays, so nothing is copied between layers.

>>> import torch
>>> w = torch.ones(1, 1, 1, 1)
>>> conv = Conv(w, torch.tensor([-2.]), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, relu=True,
...             dtype=torch.float32, input_shape=(1, 1, 1, 3))
>>> conv(torch.tensor([[[[1., 2., 3.]]]]))[0, 0, 0].tolist()
[0.0, 0.0, 1.0]
"""
import torch
import torch.nn.functional as F


def oneDNN_ready():
    """True when torch has oneDNN and the fused pointwise convolution ops."""
    return bool(torch.backends.mkldnn.is_available()
                and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


def bfloat16_ready():
    """True when oneDNN runs bfloat16 natively here (AVX-512 BF16, AMX)."""
    try:
        return oneDNN_ready() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class ConvWeights(object):
    """A convolution's weights prepared once: ``weight`` (torch's ``(out, in/groups, kh,
    kw)``, already scaled by any folded BatchNormalization) cast to ``dtype`` and, with
    oneDNN, reordered into its blocked layout for inputs of ``input_shape`` (NCHW).
    oneDNN picks that layout for the whole problem, batch size included (ResNet50's
    1024x256 kernels are blocked by 64 output channels at batch 1, by 48 at batch 2):
    a kernel run on a batch it was not prepared for is reordered again on every call.
    ``layout`` names the layout (oneDNN's memory descriptor), so plans of batch sizes
    that want the same one can share it. ``pads`` gives ``(before, after)`` per spatial
    axis."""

    def __init__(self, weight, bias, strides, pads, dilation, groups, dtype=torch.float32,
                 input_shape=None):
        self.strides = [int(s) for s in strides]
        self.dilation = [int(d) for d in dilation]
        self.groups = int(groups)
        self.dtype = dtype
        if all(b == a for b, a in pads):
            self.padding, self.pre_pad = [int(b) for b, _ in pads], None
        else:  # TensorFlow's asymmetric 'same': pad explicitly (F.pad lists the last axis first)
            self.padding, self.pre_pad = [0] * len(pads), [int(v) for b, a in reversed(pads)
                                                          for v in (b, a)]
        weight = weight.detach().to(dtype).contiguous(memory_format=torch.channels_last)
        self.bias = None if bias is None else bias.detach().to(dtype).contiguous()
        self.fused = oneDNN_ready() and weight.dim() == 4
        if self.fused:
            shape = list(input_shape)
            if self.pre_pad:
                shape[2] += self.pre_pad[2] + self.pre_pad[3]
                shape[3] += self.pre_pad[0] + self.pre_pad[1]
            try:
                # oneDNN's blocked layout for this input shape, chosen and reordered once.
                weight = torch._C._nn.mkldnn_reorder_conv2d_weight(
                    weight.to_mkldnn(), self.padding, self.strides, self.dilation,
                    self.groups, shape)
            except (RuntimeError, AttributeError):
                self.fused = False
        self.weight = weight
        self.layout = _layout(weight, input_shape) if self.fused else 'dense'


def _layout(weight, input_shape):
    """oneDNN's memory descriptor of a reordered weight, as bytes (equal bytes: the same
    blocked layout), or the input shape where torch cannot say (shared by that shape only)."""
    try:
        return bytes(torch.ops.mkldnn._get_mkldnn_serialized_md(weight).numpy())
    except (AttributeError, RuntimeError):
        return tuple(input_shape)


class Conv(object):
    """``relu?(conv(x, weight) + bias [+ other])`` on NCHW (channels-last) tensors, with
    :class:`ConvWeights` (or the arguments to make them)."""

    def __init__(self, weights, bias=None, strides=None, pads=None, dilation=None, groups=1,
                 relu=False, residual=False, dtype=torch.float32, input_shape=None,
                 in_place=False):
        if not isinstance(weights, ConvWeights):
            weights = ConvWeights(weights, bias, strides, pads, dilation, groups, dtype,
                                  input_shape)
        self.relu = bool(relu)
        self.residual = bool(residual)
        self.in_place = bool(in_place)  # the sum overwrites the residual tensor
        for name in ('strides', 'dilation', 'groups', 'dtype', 'padding', 'pre_pad', 'bias',
                     'fused', 'weight', 'layout'):
            setattr(self, name, getattr(weights, name))

    def __call__(self, x, other=None):
        if x.dtype != self.dtype:
            x = x.to(self.dtype)
        if self.pre_pad:
            x = F.pad(x, self.pre_pad)
        if self.fused:
            unary = 'relu' if self.relu else 'none'
            if self.residual:
                if other.dtype != self.dtype:
                    other = other.to(self.dtype)
                if self.in_place and other.is_contiguous(memory_format=torch.channels_last):
                    return torch.ops.mkldnn._convolution_pointwise_.binary(
                        other, x, self.weight, self.bias, self.padding, self.strides,
                        self.dilation, self.groups, 'add', 1.0,
                        'relu' if self.relu else None, [], '')
                return torch.ops.mkldnn._convolution_pointwise.binary(
                    x, _channels_last(other), self.weight, self.bias, self.padding,
                    self.strides, self.dilation, self.groups, 'add', 1.0,
                    'relu' if self.relu else None, [], '')
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, self.padding, self.strides, self.dilation,
                self.groups, unary, [], '')
        y = F.conv2d(x, self.weight, self.bias, self.strides, self.padding, self.dilation,
                     self.groups)
        if self.residual:
            y.add_(other.to(y.dtype))
        return y.relu_() if self.relu else y


def _channels_last(x):
    return x if x.is_contiguous(memory_format=torch.channels_last) else x.contiguous(
        memory_format=torch.channels_last)


class LinearWeights(object):
    """A Dense kernel prepared once for oneDNN: Keras's ``(in, out)`` kernel as torch's
    ``(out, in)`` in ``dtype``, reordered into oneDNN's blocked layout for ``rows`` input
    rows. oneDNN's matmul on it is 2-3x faster than BLAS on the plain kernel from 2 rows
    on (in float32; in bfloat16 from 1 row), at the cost of a copy of the kernel.
    ``layout`` names the layout (it depends on ``rows``), as for :class:`ConvWeights`."""

    def __init__(self, kernel, dtype, rows):
        weight = kernel.detach().t().contiguous().to(dtype)
        self.packed = False
        try:
            weight = torch.ops.mkldnn._reorder_linear_weight(weight, int(rows))
            self.packed = True
        except (RuntimeError, AttributeError):
            pass
        self.weight = weight
        self.layout = _layout(weight, ('linear', int(rows))) if self.packed else 'dense'


class Linear(object):
    """``activation(x @ kernel + bias)`` with ``kernel`` in Keras's ``(in, out)`` layout,
    or prepared as :class:`LinearWeights`.

    In float32 a plain kernel is used as it is (no copy); in a reduced precision it is
    cast once. ``activation`` is ``'relu'`` (in place, or oneDNN's post-op), ``'softmax'``
    (computed in float32), ``None``, or any callable on tensors.
    """

    def __init__(self, kernel, bias, activation=None, dtype=torch.float32):
        # float32: Keras's (in, out) kernel as it is, no copy. Reduced precisions copy it
        # anyway, into torch's (out, in) layout, where oneDNN's bfloat16 GEMM is fastest
        # (twice as fast as (in, out) for one row). A prepared (out, in) kernel may be
        # passed as ``(kernel, 'transposed')`` (plans of several batch sizes share it).
        self.mode = 'addmm'
        if isinstance(kernel, LinearWeights):
            self.kernel = kernel.weight
            self.mode = 'packed' if kernel.packed else 'linear'
        elif isinstance(kernel, tuple):
            self.kernel, self.mode = kernel[0], 'linear'
        elif dtype != torch.float32:
            self.kernel, self.mode = transposed_kernel(kernel, dtype), 'linear'
        else:
            self.kernel = kernel.detach()
        self.bias = None if bias is None else bias.detach().to(dtype)
        self.activation = activation
        self.dtype = dtype

    def __call__(self, x):
        if x.dtype != self.dtype:
            x = x.to(self.dtype)
        if self.mode == 'packed' and x.dim() == 2:
            relu = self.activation == 'relu'
            y = torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.kernel, self.bias,
                                                   'relu' if relu else 'none', [], '')
            if relu:
                return y
        elif self.mode == 'packed':
            raise ValueError('a prepared Dense kernel takes 2-D inputs, got %d-D' % x.dim())
        elif self.mode == 'linear':
            y = F.linear(x, self.kernel, self.bias)
        elif x.dim() == 2 and self.bias is not None:
            y = torch.addmm(self.bias, x, self.kernel)
        else:
            y = torch.matmul(x, self.kernel)
            if self.bias is not None:
                y.add_(self.bias)
        if self.activation is None:
            return y
        if self.activation == 'relu':
            return y.relu_()
        if self.activation == 'softmax':
            return torch.softmax(y.float(), dim=-1)
        return self.activation(y)


def transposed_kernel(kernel, dtype):
    """Keras's ``(in, out)`` kernel as a contiguous ``(out, in)`` copy in ``dtype``."""
    return kernel.detach().t().contiguous().to(dtype)


class Affine(object):
    """``x * scale + shift`` on one axis: a BatchNormalization that could not be folded."""

    def __init__(self, scale, shift, axis, ndim, dtype=torch.float32):
        shape = [1] * ndim
        shape[axis] = -1
        self.scale = scale.to(dtype).reshape(shape)
        self.shift = shift.to(dtype).reshape(shape)
        self.dtype = dtype

    def __call__(self, x):
        if x.dtype != self.dtype:
            x = x.to(self.dtype)
        return torch.addcmul(self.shift, x, self.scale)
