"""Compiled inference plans equal the plain path on the zoo's graphs (small inputs).

Each application is built with ``weights=None`` at a small input size, with random
BatchNormalization statistics and biases, and a linear classifier so the comparison is
on logits (not on a softmax that would hide differences). Tolerance 1e-4, scaled by
``max(1, max|expected|)`` (tests/helpers.py).
"""
import pytest

from kzoo import backend as K
from kzoo.engine import inference

from helpers import assert_matches
from perf_helpers import images, plain, randomize

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='inference plans need the torch backend')

ZOO = {
    'VGG16': dict(input_shape=(32, 32, 3)),
    'ResNet50': dict(input_shape=(32, 32, 3)),
    'InceptionV3': dict(input_shape=(75, 75, 3)),
}
# kernels each graph must be compiled into: the fusions are really exercised
EXPECTED = {
    'VGG16': {'conv+relu': 13, 'dense+relu': 0, 'dense': 3},
    'ResNet50': {'conv+bn+add+relu': 16, 'conv+bn+relu': 32, 'pad+conv+bn+relu': 1},
    'InceptionV3': {'conv+bn+relu': 94},
}


@pytest.fixture(scope='module', params=sorted(ZOO))
def zoo_model(request):
    from kzoo import applications
    with K.using('torch'):
        builder = getattr(applications, request.param)
        model = builder(weights=None, classes=10, classifier_activation=None,
                        **ZOO[request.param])
        yield request.param, randomize(model)


def test_plan_equals_plain_path(zoo_model):
    name, model = zoo_model
    x = images((3,) + ZOO[name]['input_shape'])
    with K.using('torch'):
        expected = plain(model, x)
        # provider='torch': the plans themselves (the default may hand a large model to
        # onnxruntime, tested in test_providers.py)
        actual = model.predict(x, batch_size=2, provider='torch')  # batches of 2 and of 1
        again = model.predict(x, batch_size=2, provider='torch')   # the same plans again
        one = model.predict(x[:1], provider='torch')
    assert_matches(actual, expected, 1e-4, '%s plan' % name)
    assert_matches(one, expected[:1], 1e-4, '%s plan, batch of 1' % name)
    assert (again == actual).all()
    plans = {p['shapes'][0][0]: p for p in inference.describe(model) if p.get('shapes')}
    assert sorted(plans) == [1, 2]
    for kind, count in EXPECTED[name].items():  # the fusions are really exercised
        assert plans[2]['steps'].get(kind, 0) == count, (name, plans[2]['steps'])
