"""Backend-independent configuration: float type, fuzz factor, image data format."""
import numpy as np

from kzoo.errors import BackendError

_FLOATX = 'float32'
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = 'channels_last'
_DATA_FORMATS = ('channels_last', 'channels_first')
# Keras 1 spelled the data format as a dim ordering.
_DIM_ORDERING_TO_FORMAT = {'tf': 'channels_last', 'th': 'channels_first'}


def floatx():
    """Default float type as a string, ``'float32'`` unless changed."""
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    if value not in ('float16', 'float32', 'float64', 'bfloat16'):
        raise BackendError('unknown floatx %r; expected float16, bfloat16, float32 or float64'
                           % (value,))
    _FLOATX = str(value)


def epsilon():
    """Fuzz factor used to avoid division by zero (``1e-7``)."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    """``'channels_last'`` (default) or ``'channels_first'``."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    global _IMAGE_DATA_FORMAT
    _IMAGE_DATA_FORMAT = normalize_data_format(data_format)


def image_dim_ordering():
    """Keras 1 spelling of :func:`image_data_format`: ``'tf'`` or ``'th'``."""
    return 'tf' if _IMAGE_DATA_FORMAT == 'channels_last' else 'th'


def set_image_dim_ordering(dim_ordering):
    set_image_data_format(dim_ordering)


def normalize_data_format(value):
    """Map ``None``/``'tf'``/``'th'``/Keras 2 names to ``channels_last``/``channels_first``."""
    if value is None:
        return _IMAGE_DATA_FORMAT
    value = str(value).lower()
    value = _DIM_ORDERING_TO_FORMAT.get(value, value)
    if value not in _DATA_FORMATS:
        raise BackendError('unknown data_format %r; expected channels_last, channels_first, '
                           "'tf' or 'th'" % (value,))
    return value


def cast_to_floatx(x):
    return np.asarray(x, dtype=_FLOATX)
