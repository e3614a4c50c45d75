"""Padding, resizing and normalization ops on torch, data in Keras layout.

>>> import torch
>>> x = torch.tensor([[[[1.]], [[3.]]]])
>>> resize_images(x, 2, 1, 'channels_last', 'bilinear')[0, :, 0, 0].tolist()
[1.0, 1.5, 2.5, 3.0]
"""
import torch
import torch.nn.functional as F

from kzoo.backend.torch_backend.conv import channels_last, from_ncx, to_ncx

__all__ = ['temporal_padding', 'spatial_2d_padding', 'spatial_3d_padding', 'resize_images',
           'resize_volumes', 'moments', 'batch_normalization', 'moving_average_update']


# ---- padding ------------------------------------------------------------------------

def _spatial_padding(x, padding, data_format):
    flat = [0, 0] if channels_last(data_format) else []
    for before, after in reversed([tuple(p) for p in padding]):  # F.pad: last axis first
        flat += [int(before), int(after)]
    return F.pad(x, flat)


def temporal_padding(x, padding=(1, 1)):
    """Zero-pad the steps axis of ``(batch, steps, features)`` by ``(before, after)``."""
    return _spatial_padding(x, [padding], 'channels_last')


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    """Zero-pad rows and columns by ``((top, bottom), (left, right))``."""
    return _spatial_padding(x, padding, data_format)


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zero-pad three spatial axes by ``((b, a), (b, a), (b, a))``."""
    return _spatial_padding(x, padding, data_format)


# ---- resizing ---------------------------------------------------------------------------

def resize_images(x, height_factor, width_factor, data_format=None, interpolation='nearest'):
    """Upsample rows and columns by integer factors (``nearest`` or ``bilinear``).

    ``bilinear`` uses half-pixel centres (``align_corners=False``), as TensorFlow's
    ``tf.image.resize`` under Keras does.
    """
    rows = 1 if channels_last(data_format) else 2
    if interpolation == 'nearest':
        x = torch.repeat_interleave(x, int(height_factor), dim=rows)
        return torch.repeat_interleave(x, int(width_factor), dim=rows + 1)
    if interpolation == 'bilinear':
        y = to_ncx(x, data_format)
        size = (int(y.shape[2]) * int(height_factor), int(y.shape[3]) * int(width_factor))
        y = F.interpolate(y, size=size, mode='bilinear', align_corners=False)
        return from_ncx(y, data_format)
    raise ValueError('interpolation must be "nearest" or "bilinear", got %r' % (interpolation,))


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format=None):
    """Nearest-neighbour upsampling of three spatial axes by integer factors."""
    first = 1 if channels_last(data_format) else 2
    for axis, factor in zip(range(first, first + 3), (depth_factor, height_factor, width_factor)):
        x = torch.repeat_interleave(x, int(factor), dim=axis)
    return x


# ---- normalization ------------------------------------------------------------------

def _axes(axis, ndim):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(int(a) % ndim for a in axes)


def moments(x, axes, keepdims=False):
    """Mean and (biased) variance of ``x`` over ``axes``."""
    dims = tuple(_axes(axes, x.dim()))
    var, mean = torch.var_mean(x, dim=dims, unbiased=False, keepdim=keepdims)
    return mean, var


def _broadcast(param, x, axes):
    if param is None:
        return None
    shape = [1] * x.dim()
    for a in axes:
        shape[a] = x.shape[a]
    return param.reshape(shape)


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` on the feature ``axis``.

    ``mean``, ``var``, ``beta`` and ``gamma`` have the shape of the feature axes
    (``beta``/``gamma`` may be ``None``). With fixed statistics on one axis this is
    ``F.batch_norm`` on a view with that axis second (no copy for channels_last
    images); otherwise TensorFlow's formula ``x * inv + (beta - mean * inv)``.
    """
    axes = _axes(axis, x.dim())
    fixed = not (mean.requires_grad or var.requires_grad) or not torch.is_grad_enabled()
    if len(axes) == 1 and x.dim() >= 2 and fixed and mean.dim() == 1:
        a = axes[0]
        order = [0, a] + [d for d in range(1, x.dim()) if d != a]
        y = F.batch_norm(x.permute(*order), mean, var, gamma, beta, False, 0., epsilon)
        inverse = [order.index(d) for d in range(x.dim())]
        return y.permute(*inverse)
    mean, var = _broadcast(mean, x, axes), _broadcast(var, x, axes)
    inv = torch.rsqrt(var + epsilon)
    if gamma is not None:
        inv = inv * _broadcast(gamma, x, axes)
    shift = -mean * inv
    if beta is not None:
        shift = shift + _broadcast(beta, x, axes)
    return x * inv + shift


def moving_average_update(variable, value, momentum):
    """In place, without gradient: ``variable = variable * momentum + value * (1 - momentum)``."""
    with torch.no_grad():
        variable.mul_(momentum).add_(value.detach().to(variable.dtype), alpha=1. - momentum)
    return variable
