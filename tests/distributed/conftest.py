"""Generated images and small model files for the batch prediction and bulk tests.

Built once per session: a few hundred small images (PNG and JPEG, several sizes, in
sub-folders) plus files that cannot be decoded, and three tiny kzoo models saved to
disk (an RGB CNN, a grayscale model, a 1,000-class model for ImageNet names).
"""
import os

import numpy as np
import pytest

N_IMAGES = 300
BAD_FILES = ('bad/empty.png', 'bad/text.png', 'bad/truncated.jpg')


def _write_images(root, count):
    from PIL import Image
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        height, width = (24, 32) if i % 3 else (40, 28)
        pixels = rng.integers(0, 256, (height, width, 3), dtype='uint8')
        folder = os.path.join(root, 'part%d' % (i % 4))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, 'img%04d.%s' % (i, 'jpg' if i % 5 == 0 else 'png'))
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _write_bad(root, good_jpeg):
    os.makedirs(os.path.join(root, 'bad'), exist_ok=True)
    with open(good_jpeg, 'rb') as f:
        head = f.read(200)
    contents = {'bad/empty.png': b'', 'bad/text.png': b'this is not an image\n',
                'bad/truncated.jpg': head}
    for name in BAD_FILES:
        with open(os.path.join(root, name), 'wb') as f:
            f.write(contents[name])
    return [os.path.join(root, name) for name in BAD_FILES]


@pytest.fixture(scope='session')
def image_set(tmp_path_factory):
    """``(folder, good paths, bad paths)``: sorted paths under one folder."""
    root = str(tmp_path_factory.mktemp('images'))
    good = _write_images(root, N_IMAGES)
    bad = _write_bad(root, next(p for p in good if p.endswith('.jpg')))
    return root, sorted(good), sorted(bad)


def _tiny_cnn():
    from kzoo.layers import Conv2D, Dense, GlobalAveragePooling2D, Input
    from kzoo.models import Model
    x = Input(shape=(32, 32, 3))
    h = Conv2D(16, 3, activation='relu', name='c1')(x)
    h = Conv2D(32, 3, activation='relu', name='c2')(h)
    return Model(x, Dense(10, activation='softmax', name='out')(GlobalAveragePooling2D()(h)),
                 name='tiny_cnn')


def _gray():
    from kzoo.layers import Dense, Flatten, Input
    from kzoo.models import Model
    x = Input(shape=(12, 12, 1))
    return Model(x, Dense(5, activation='softmax', name='out')(Flatten()(x)), name='gray')


def _imagenet_like():
    from kzoo.layers import Dense, Flatten, Input
    from kzoo.models import Model
    x = Input(shape=(8, 8, 3))
    return Model(x, Dense(1000, activation='softmax', name='out')(Flatten()(x)),
                 name='imagenet_like')


@pytest.fixture(scope='session')
def model_files(tmp_path_factory):
    """``{'cnn': .h5, 'gray': .keras, 'imagenet': .h5}``: tiny models on disk."""
    from kzoo import backend as K
    folder = tmp_path_factory.mktemp('models')
    files = {}
    with K.using('numpy'):
        for key, build, name in (('cnn', _tiny_cnn, 'tiny_cnn.h5'),
                                 ('gray', _gray, 'gray.keras'),
                                 ('imagenet', _imagenet_like, 'imagenet_like.h5')):
            model = build()
            rng = np.random.default_rng(len(key))
            # fan-in scaled, so that inputs in [-1, 1] give unsaturated softmax scores
            model.set_weights([rng.normal(0, 1.5 / np.sqrt(np.prod(w.shape[:-1])) if w.ndim > 1
                                          else 0.1, w.shape).astype('float32')
                               for w in model.get_weights()])
            path = str(folder / name)
            model.save(path)
            files[key] = path
    return files


def list_file(folder, paths, name='list.txt'):
    """A list file naming ``paths`` relative to ``folder`` (where it is written)."""
    path = os.path.join(folder, name)
    with open(path, 'w') as f:
        f.write('# images to classify\n\n')
        f.writelines(os.path.relpath(p, folder) + '\n' for p in paths)
    return path
