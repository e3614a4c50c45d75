"""``kzoo predict`` runs the same plans as ``model.predict``: its scores equal the plain
path's (printed to 4 decimals), with ``--provider`` and ``--precision`` passed through."""
import numpy as np
import pytest

from kzoo import backend as K

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='inference plans need the torch backend')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    pil = pytest.importorskip('PIL.Image')
    from kzoo.layers import Conv2D, Dense, GlobalAveragePooling2D, Input
    from kzoo.models import Model
    folder = tmp_path_factory.mktemp('cli')
    with K.using('torch'):
        from kzoo.initializers import GlorotUniform
        # Seeded weights: bfloat16's error is relative, so unseeded draws with large
        # logits made the softmax deviation vary from run to run.
        x = Input((16, 16, 3))
        y = Dense(7, activation='softmax', kernel_initializer=GlorotUniform(seed=1))(
            GlobalAveragePooling2D()(
                Conv2D(4, 3, activation='relu', kernel_initializer=GlorotUniform(seed=0))(x)))
        model = Model(x, y)
        model.save(str(folder / 'm.h5'))
    images = []
    for i in range(2):
        path = folder / ('%d.png' % i)
        pixels = np.random.default_rng(i).integers(0, 255, (16, 16, 3)).astype('uint8')
        pil.fromarray(pixels).save(str(path))
        images.append(str(path))
    return str(folder / 'm.h5'), images


def _scores(capsys, argv):
    from kzoo.cli import main
    assert main(argv) == 0
    lines = [l.split() for l in capsys.readouterr().out.splitlines() if l.startswith('  ')]
    return [(l[0], float(l[-1])) for l in lines]


@pytest.mark.parametrize('options', [[], ['--batch-size', '1'], ['--provider', 'auto'],
                                     ['--provider', 'torch'], ['--provider', 'onnxruntime'],
                                     ['--precision', 'bfloat16']])
def test_cli_predict_equals_plain_path(files, capsys, options):
    if '--provider' in options and 'onnxruntime' in options:
        pytest.importorskip('onnxruntime')
    model, images = files
    # Inputs scaled to [-1, 1] as users' models expect (raw 0..255 pixels would put
    # the logits in the hundreds, where bfloat16's 3 digits move the softmax by 5%).
    common = ['predict', model] + images + ['--preprocess', 'tf']
    with K.using('torch'):
        expected = _scores(capsys, common + ['--provider', 'plain'])
        actual = _scores(capsys, common + options)
    tol = 2e-2 if 'bfloat16' in options else 1e-4
    assert [a for a, _ in actual] == [e for e, _ in expected] or tol > 1e-4
    assert np.allclose([s for _, s in actual], [s for _, s in expected], atol=tol)
