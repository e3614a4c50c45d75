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


# glibc maps allocations above 32 MiB (its largest mmap threshold) afresh on every call:
# each page of such a buffer is faulted in and zeroed again.
FRESH_MAP_BYTES = 32 << 20


class MaxPool(object):
    """2D max pooling on NCHW tensors (any memory format) with symmetric ``pads``.

    torch's CPU ``max_pool2d`` also writes an int64 index per output value; where that
    buffer would be freshly mapped on every call (VGG16's first pool at batch 8: 51 MB,
    five times slower than the pooling itself) the maximum is taken instead over
    strided views of the input, one spatial axis at a time, a few images at a time."""

    def __init__(self, size, strides, pads, input_shape):
        self.size = [int(k) for k in size]
        self.strides = [int(s) for s in strides]
        self.pads = [int(p) for p in pads]
        n, c, h, w = (int(d) for d in input_shape)
        out = [(d + 2 * p - k) // s + 1 for d, k, s, p in zip((h, w), self.size, self.strides,
                                                           self.pads)]
        self.views = (n * c * out[0] * out[1] * 8 > FRESH_MAP_BYTES
                      and all(2 * p < k for p, k in zip(self.pads, self.size)))
        # images per slice: the row pass's intermediate stays well under the threshold
        row_bytes = c * out[0] * w * 4
        self.chunk = max(1, (FRESH_MAP_BYTES // 4) // max(1, row_bytes))

    def __call__(self, x):
        if not self.views:
            return F.max_pool2d(x, self.size, self.strides, self.pads)
        out = [(d + 2 * p - k) // s + 1 for d, k, s, p in
               zip(x.shape[2:], self.size, self.strides, self.pads)]
        y = torch.empty((x.shape[0], x.shape[1]) + tuple(out), dtype=x.dtype,
                        memory_format=_memory_format(x))
        for start in range(0, x.shape[0], self.chunk):
            part = x[start:start + self.chunk]
            rows = _max_along(part, 2, self.size[0], self.strides[0], self.pads[0])
            _max_along(rows, 3, self.size[1], self.strides[1], self.pads[1],
                       out=y[start:start + self.chunk])
        return y


def _memory_format(x):
    return (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous() else torch.contiguous_format)


def _max_along(x, axis, k, s, pad, out=None):
    """Max over windows of ``k`` (stride ``s``, ``pad`` -inf cells each side) on one axis,
    as the maximum of ``k`` strided views; a window's taps that fall into the padding are
    left out. Needs a tap inside the input for every window (``2 * pad < k``)."""
    n = x.shape[axis]
    length = (n + 2 * pad - k) // s + 1
    taps = []  # (offset in the window, first and last output it reaches)
    for d in range(k):
        first = max(0, -((d - pad) // s))
        last = min(length - 1, (n - 1 + pad - d) // s)
        if first <= last:
            taps.append((d, first, last))
    full = [t for t in taps if t[1] == 0 and t[2] == length - 1]
    taps = full + [t for t in taps if t not in full]

    def view(d, first, last):
        start = first * s + d - pad
        index = [slice(None)] * x.dim()
        index[axis] = slice(start, start + (last - first) * s + 1, s)
        return x[tuple(index)]

    if len(full) > 1:
        y = torch.maximum(view(*taps[0]), view(*taps[1]), out=out)
        rest = taps[2:]
    else:
        y = out.copy_(view(*taps[0])) if out is not None else view(*taps[0]).clone()
        rest = taps[1:]
    for d, first, last in rest:
        part = y.narrow(axis, first, last - first + 1)
        torch.maximum(part, view(d, first, last), out=part)
    return y
