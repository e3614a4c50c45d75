"""Ops written once in terms of other backend ops.

A backend module calls :func:`install` at its end; each function here is bound to
that module (as ``B``) unless the module already defines a faster native version.
"""
import functools
import math
import types

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def relu(B, x, alpha=0., max_value=None, threshold=0.):
    """Keras's relu: ``x`` above ``threshold`` (clipped at ``max_value``), else
    ``alpha * (x - threshold)``. Follows Keras's order of operations exactly."""
    if alpha != 0. and max_value is None and threshold == 0.:
        return B.leaky_relu(x, alpha)
    if alpha != 0.:
        negative_part = B.relu_plain(-x + threshold) if threshold != 0. else B.relu_plain(-x)
    clip_max = max_value is not None
    if threshold != 0.:
        x = x * B.cast(B.greater(x, threshold), B.dtype(x))
    elif max_value == 6:
        x = B.clip(x, 0., 6.)
        clip_max = False
    else:
        x = B.relu_plain(x)
    if clip_max:
        x = B.clip(x, 0., float(max_value))
    if alpha != 0.:
        x = x - alpha * negative_part
    return x


def hard_sigmoid(B, x):
    """Keras 1/2's piecewise-linear sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""
    return B.clip(0.2 * x + 0.5, 0., 1.)


def hard_sigmoid_keras3(B, x):
    """Keras 3's hard sigmoid: ``relu6(x + 3) / 6``."""
    return B.clip(x / 6. + 0.5, 0., 1.)


def selu(B, x):
    return SELU_SCALE * B.elu(x, SELU_ALPHA)


def softsign(B, x):
    return x / (1. + B.abs(x))


def swish(B, x):
    return x * B.sigmoid(x)


def linear(B, x):
    return x


def gelu(B, x, approximate=False):
    if approximate:
        c = math.sqrt(2. / math.pi)
        return 0.5 * x * (1. + B.tanh(c * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1. + B.erf(x / math.sqrt(2.)))


def l2_normalize(B, x, axis=-1):
    square_sum = B.sum(B.square(x), axis=axis, keepdims=True)
    return x / B.sqrt(B.maximum(square_sum, 1e-12))


def batch_flatten(B, x):
    return B.reshape(x, (B.shape(x)[0], -1))


def batch_dot(B, x, y, axes=None):
    """Dot product of each sample of ``x`` and ``y`` along ``axes`` (Keras semantics).

    The result has the non-batch, non-contracted axes of ``x`` then of ``y``; two
    vectors per sample give shape ``(batch, 1)``.
    """
    nx, ny = B.ndim(x), B.ndim(y)
    if axes is None:
        axes = (nx - 1, ny - 2 if ny > 2 else ny - 1)
    if isinstance(axes, int):
        axes = (axes, axes)
    ax, ay = [a % n for a, n in zip(axes, (nx, ny))]
    letters = 'bcdefghijklmnopqrstuvwxyz'
    xs = ['a'] + [letters[i] for i in range(nx - 1)]
    ys = ['a'] + [letters[nx - 1 + i] for i in range(ny - 1)]
    ys[ay] = xs[ax]
    out = [c for i, c in enumerate(xs) if i != ax] + [c for i, c in enumerate(ys) if i not in (0, ay)]
    result = B.einsum('%s,%s->%s' % (''.join(xs), ''.join(ys), ''.join(out)), x, y)
    if B.ndim(result) == 1:
        result = B.expand_dims(result, 1)
    return result


def dense(B, x, kernel, bias=None):
    """Dense's affine map ``dot(x, kernel) + bias`` (torch fuses it into one kernel)."""
    y = B.dot(x, kernel)
    return y if bias is None else y + bias


def conv_bias(B, x, kernel, bias=None, strides=1, padding='valid', data_format=None,
              dilation_rate=1, groups=1):
    """Conv1D/2D/3D's ``conv + bias``, the rank from the kernel's (torch adds the bias
    inside the convolution, which saves a pass over the output and its gradient)."""
    op = getattr(B, 'conv%dd' % (len(B.int_shape(kernel)) - 2))
    kwargs = {'groups': groups} if groups != 1 else {}
    y = op(x, kernel, strides, padding, data_format, dilation_rate, **kwargs)
    return y if bias is None else B.bias_add(y, bias, data_format)


def repeat(B, x, n):
    """RepeatVector: ``(batch, dim)`` -> ``(batch, n, dim)``."""
    return B.tile(B.expand_dims(x, 1), (1, n, 1))


class _ModuleView(object):
    """Attribute access onto a backend module's namespace dict (``B.relu_plain``)."""

    def __init__(self, namespace):
        self.__dict__ = namespace


def install(namespace):
    """Bind every op of this module into ``namespace`` where it has none of its own."""
    view = _ModuleView(namespace)
    for name, fn in list(globals().items()):
        if (isinstance(fn, types.FunctionType) and fn.__module__ == __name__
                and name != 'install' and name not in namespace):
            namespace[name] = functools.update_wrapper(functools.partial(fn, view), fn)
