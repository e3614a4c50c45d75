"""Images to arrays, as Keras's ``preprocessing.image`` does it (Pillow).

>>> import numpy as np
>>> from PIL import Image
>>> img = Image.fromarray(np.zeros((4, 6, 3), 'uint8'))
>>> img_to_array(img).shape
(4, 6, 3)
"""
import numpy as np

from kzoo import backend as K
from kzoo.errors import ConfigError, FileFormatError, KzooError

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'hamming', 'box', 'lanczos')


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise KzooError('reading images needs Pillow: pip install pillow') from None
    return Image


def load_img(path, grayscale=False, color_mode='rgb', target_size=None,
             interpolation='nearest', keep_aspect_ratio=False):
    """Open an image file as a PIL image in ``color_mode``, resized to ``target_size``
    ``(height, width)`` with Pillow's ``interpolation`` filter."""
    Image = _pil()
    if grayscale:
        color_mode = 'grayscale'
    if interpolation not in _INTERPOLATIONS:
        raise ConfigError('interpolation must be one of %s; got %r'
                          % (', '.join(_INTERPOLATIONS), interpolation))
    try:
        with open(path, 'rb') as f:
            img = Image.open(f)
            img.load()
    except OSError as e:
        raise FileFormatError('cannot read image %s: %s' % (path, e)) from e
    converted = {'grayscale': 'L', 'rgb': 'RGB', 'rgba': 'RGBA'}.get(color_mode)
    if converted is None:
        raise ConfigError("color_mode must be 'grayscale', 'rgb' or 'rgba'; got %r" % color_mode)
    if img.mode != converted and not (color_mode == 'grayscale' and img.mode in ('I;16', 'I')):
        img = img.convert(converted)
    if target_size is not None:
        size = (int(target_size[1]), int(target_size[0]))
        if img.size != size:
            resample = getattr(Image.Resampling, interpolation.upper())
            if keep_aspect_ratio:
                width, height = img.size
                crop_h = min(height, width * size[1] // size[0])
                crop_w = min(width, height * size[0] // size[1])
                top, left = (height - crop_h) // 2, (width - crop_w) // 2
                img = img.crop((left, top, left + crop_w, top + crop_h))
            img = img.resize(size, resample)
    return img


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a float array ``(height, width, channels)`` (or channels first)."""
    data_format = K.normalize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or K.floatx())
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ConfigError('unsupported image shape %s' % (x.shape,))
    if data_format == 'channels_first':
        x = x.transpose(2, 0, 1)
    return x


def array_to_img(x, data_format=None, scale=True):
    """The inverse of :func:`img_to_array` (scaled to 0-255 when ``scale``)."""
    Image = _pil()
    x = np.asarray(x, dtype='float32')
    if K.normalize_data_format(data_format) == 'channels_first':
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - x.min()
        peak = x.max()
        if peak:
            x = x / peak
        x = x * 255
    x = np.clip(x, 0, 255).astype('uint8')
    return Image.fromarray(x[:, :, 0] if x.shape[2] == 1 else x)
