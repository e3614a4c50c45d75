"""Shape arithmetic of convolutions and pooling, shared by every backend and layer.

Padding follows TensorFlow (what Keras computes with): ``same`` pads ``total // 2``
before and the rest after; ``causal`` pads ``k_eff - 1`` before (1D); Keras 1's
``full`` pads ``k_eff - 1`` on both sides (output ``n + k - 1`` at stride 1).

>>> conv_output_length(7, 3, 'same', 2)
4
>>> pad_amounts(7, 3, 'same', 2)
(1, 1)
>>> conv_output_length(5, 3, 'full', 1)
7
"""
import numbers

from kzoo.errors import ConfigError

PADDINGS = ('valid', 'same', 'causal', 'full')


def _is_int(v):
    # numpy integers count; floats such as 2.0 (from some JSON writers) too.
    if isinstance(v, bool):
        return False
    return isinstance(v, numbers.Integral) or isinstance(v, float) and v.is_integer()


def normalize_tuple(value, n, name, where='layer'):
    """``3`` -> ``(3, 3)``; a list or tuple of ``n`` ints -> that tuple of ints."""
    if _is_int(value):
        return (int(value),) * n
    try:
        values = tuple(value)
    except TypeError:
        raise ConfigError('%s: %s must be an int or a tuple of %d ints, got %r'
                          % (where, name, n, value)) from None
    if len(values) != n or not all(_is_int(v) for v in values):
        raise ConfigError('%s: %s must be an int or a tuple of %d ints, got %r'
                          % (where, name, n, value))
    return tuple(int(v) for v in values)


def normalize_padding(value, where='layer', allowed=PADDINGS):
    """Lower-cased padding name, checked against ``allowed``."""
    padding = str(value).lower() if value is not None else ''
    if padding not in allowed:
        raise ConfigError('%s: padding must be one of %s, got %r'
                          % (where, ', '.join(allowed), value))
    return padding


def effective_kernel(kernel_size, dilation=1):
    return kernel_size + (kernel_size - 1) * (dilation - 1)


def conv_output_length(length, kernel_size, padding, stride, dilation=1):
    """Output length of a convolution or pooling window along one axis (``None`` stays)."""
    if length is None:
        return None
    k = effective_kernel(kernel_size, dilation)
    if padding in ('same', 'causal'):
        out = length
    elif padding == 'valid':
        out = length - k + 1
    elif padding == 'full':
        out = length + k - 1
    else:
        raise ConfigError('unknown padding %r' % (padding,))
    return max((out + stride - 1) // stride, 0)


def pad_amounts(length, kernel_size, padding, stride, dilation=1):
    """``(before, after)`` zero padding that turns ``padding`` into a valid window."""
    k = effective_kernel(kernel_size, dilation)
    if padding == 'valid':
        return (0, 0)
    if padding == 'causal':
        return (k - 1, 0)
    if padding == 'full':
        return (k - 1, k - 1)
    if padding == 'same':
        out = (length + stride - 1) // stride
        total = max((out - 1) * stride + k - length, 0)
        return (total // 2, total - total // 2)
    raise ConfigError('unknown padding %r' % (padding,))


def deconv_output_length(length, kernel_size, padding, output_padding=None, stride=1,
                         dilation=1):
    """Output length of a transposed convolution, as Keras computes it."""
    if length is None:
        return None
    k = effective_kernel(kernel_size, dilation)
    if output_padding is None:
        if padding == 'valid':
            return length * stride + max(k - stride, 0)
        if padding == 'full':
            return length * stride - (stride + k - 2)
        return length * stride
    pad = {'same': k // 2, 'valid': 0, 'full': k - 1}[padding]
    return (length - 1) * stride + k - 2 * pad + output_padding


def deconv_crop(out_length, length, kernel_size, padding, stride, dilation=1):
    """Offset into the full transposed output ``(length - 1) * stride + k_eff`` at which
    the ``out_length`` outputs start: the forward convolution's ``before`` padding."""
    if padding == 'same':
        return pad_amounts(out_length, kernel_size, 'same', stride, dilation)[0]
    if padding == 'full':
        return effective_kernel(kernel_size, dilation) - 1
    return 0
