"""onnxruntime as a provider and the bfloat16 precision, against the plain path.

The onnxruntime provider runs kzoo's own ONNX export; it must equal the plain path at
1e-4. A bfloat16 plan cannot (it keeps about three significant digits); what must hold
is its deviation report: measured against a float32 result that equals the plain path,
and equal to the deviation computed here from the plain path (1e-4).
"""
import numpy as np
import pytest

from kzoo import backend as K
from kzoo.engine import inference
from kzoo.engine.inference.precision import deviation

from helpers import assert_matches
from perf_helpers import images, plain, randomize

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='inference plans need the torch backend')


def _small_resnet():
    """A ResNet-style graph: padding, conv+BN+ReLU, pooling, residual blocks, head."""
    from kzoo.layers import (Activation, Add, BatchNormalization, Conv2D, Dense,
                             GlobalAveragePooling2D, Input, MaxPooling2D, ZeroPadding2D,
                             concatenate)
    from kzoo.models import Model
    x = Input((24, 24, 3))
    y = Activation('relu')(BatchNormalization()(Conv2D(8, 7, strides=2)(ZeroPadding2D(3)(x))))
    y = MaxPooling2D(3, strides=2, padding='same')(y)
    for filters in (8, 16):
        s = BatchNormalization()(Conv2D(filters, 1)(y))
        r = Activation('relu')(BatchNormalization()(Conv2D(filters, 3, padding='same')(y)))
        r = BatchNormalization()(Conv2D(filters, 1)(r))
        y = Activation('relu')(Add()([s, r]))
    y = concatenate([y, Conv2D(4, 1, activation='relu')(y)])
    y = Dense(10)(GlobalAveragePooling2D()(y))
    return randomize(Model(x, y))


@pytest.fixture(scope='module')
def model():
    with K.using('torch'):
        yield _small_resnet()


def test_onnxruntime_provider_equals_plain_path(model):
    pytest.importorskip('onnxruntime')
    x = images((3, 24, 24, 3))
    with K.using('torch'):
        expected = plain(model, x)
        assert_matches(model.predict(x, provider='onnxruntime'), expected, 1e-4)
        assert_matches(model.predict(x[:1], provider='onnxruntime'), expected[:1], 1e-4)
        session = model.__dict__['_onnxruntime_session']
        randomize(model, seed=3)  # new weights: a new session
        assert_matches(model.predict(x, provider='onnxruntime'), plain(model, x), 1e-4)
        assert model.__dict__['_onnxruntime_session'] is not session


@pytest.mark.slow
@pytest.mark.parametrize('name,shape', [('ResNet50', (32, 32, 3)),
                                        ('InceptionV3', (75, 75, 3))])
def test_onnxruntime_provider_on_zoo_graphs(name, shape):
    pytest.importorskip('onnxruntime')
    from kzoo import applications
    with K.using('torch'):
        model = randomize(getattr(applications, name)(
            weights=None, input_shape=shape, classes=10, classifier_activation=None))
        x = images((2,) + shape)
        assert_matches(model.predict(x, provider='onnxruntime'), plain(model, x), 1e-4)


def test_configure_sets_the_default_provider(model):
    pytest.importorskip('onnxruntime')
    x = images((1, 24, 24, 3))
    with K.using('torch'):
        previous = inference.configure(provider='onnxruntime')
        try:
            model.predict(x)
            assert any(p.get('provider') == 'onnxruntime' for p in inference.describe(model))
        finally:
            inference.configure(**previous)


def test_bfloat16_deviation_report(model):
    x = images((4, 24, 24, 3))
    with K.using('torch'):
        expected = plain(model, x)
        reduced = model.predict(x, precision='bfloat16')
        plan = [p for p in inference.plans_of(model) if p.precision == 'bfloat16'][0]
    report = plan.deviation
    independent = deviation([reduced], [expected])
    assert set(report) == set(independent) == {'max_abs', 'max_scaled', 'mean_abs',
                                                'top1_agreement'}
    for key in ('max_abs', 'max_scaled', 'mean_abs'):
        assert abs(report[key] - independent[key]) <= 1e-4 * max(1.0, independent[key])
    assert report['max_scaled'] < 0.1  # bfloat16 keeps 8 bits of mantissa
    assert reduced.dtype == np.float32
    summary = [p for p in inference.describe(model) if p['precision'] == 'bfloat16'][0]
    assert summary['deviation'] == report


def test_bfloat16_refused_off_torch():
    from kzoo.errors import ConfigError
    from kzoo.layers import Dense, Input
    from kzoo.models import Model
    with K.using('numpy'):
        x = Input((3,))
        model = Model(x, Dense(2)(x))
        with pytest.raises(ConfigError, match='bfloat16'):
            model.predict(np.ones((1, 3), 'float32'), precision='bfloat16')
        assert model.predict(np.ones((1, 3), 'float32')).shape == (1, 2)


def _auto_summary(model):
    return [p for p in inference.describe(model) if p.get('auto')][0]


def _forget_providers(model):
    """No plan, no auto choice and no onnxruntime session left from an earlier test."""
    inference.clear_plans(model)
    model.__dict__.pop('_onnxruntime_session', None)


@pytest.mark.parametrize('winner', ['onnxruntime', 'torch'])
def test_auto_provider_keeps_either_and_equals_plain_path(model, monkeypatch, winner):
    pytest.importorskip('onnxruntime')
    from kzoo.engine.inference import auto
    monkeypatch.setattr(auto, 'MIN_MS', 0.0)  # compare even on this small model
    monkeypatch.setattr(auto, 'MIN_PARAMS', 0)
    # a margin no timing can miss: onnxruntime always "faster", or never
    monkeypatch.setattr(auto, 'MARGIN', 1e9 if winner == 'onnxruntime' else 0.0)
    x = images((2, 24, 24, 3))
    with K.using('torch'):
        _forget_providers(model)
        expected = plain(model, x)
        first = model.predict(x, provider='auto')
        second = model.predict(x, provider='auto')
        summary = _auto_summary(model)
        plans = inference.plans_of(model)
        session = model.__dict__.get('_onnxruntime_session')
        # the plan provider is not affected by auto's choice
        torch_again = model.predict(x, provider='torch')
    assert_matches(first, expected, 1e-4)
    assert_matches(second, expected, 1e-4)
    assert_matches(torch_again, expected, 1e-4)
    assert summary['provider'] == winner
    assert set(summary['timings']) == {'torch_ms', 'onnxruntime_ms'}
    if winner == 'onnxruntime':
        assert plans == [] and session is not None      # the plan released
    else:
        assert len(plans) == 1 and session is None      # the session released


def test_auto_provider_chooses_again_after_new_weights(model, monkeypatch):
    pytest.importorskip('onnxruntime')
    from kzoo.engine.inference import auto
    monkeypatch.setattr(auto, 'MIN_MS', 0.0)
    monkeypatch.setattr(auto, 'MIN_PARAMS', 0)
    monkeypatch.setattr(auto, 'MARGIN', 1e9)
    x = images((1, 24, 24, 3))
    with K.using('torch'):
        inference.clear_plans(model)
        model.predict(x, provider='auto')
        randomize(model, seed=11)
        assert_matches(model.predict(x, provider='auto'), plain(model, x), 1e-4)


def test_auto_provider_skips_small_models(model, monkeypatch):
    pytest.importorskip('onnxruntime')
    from kzoo.engine.inference import auto
    monkeypatch.setattr(auto, 'MIN_MS', 1e9)
    x = images((1, 24, 24, 3))
    with K.using('torch'):
        _forget_providers(model)
        assert_matches(model.predict(x, provider='auto'), plain(model, x), 1e-4)
        summary = _auto_summary(model)
    assert summary['provider'] == 'torch' and set(summary['timings']) == {'torch_ms'}
    assert '_onnxruntime_session' not in model.__dict__


def test_default_provider_is_auto_and_small_models_keep_the_plan(model, monkeypatch):
    # A small model never leaves the plan, however slow its first batch on a busy
    # machine: its results stay reproducible bit for bit.
    pytest.importorskip('onnxruntime')
    from kzoo.engine.inference import auto
    monkeypatch.setattr(auto, 'MIN_MS', 0.0)
    monkeypatch.setattr(auto, 'MARGIN', 1e9)
    assert inference.settings()['provider'] == 'auto'
    x = images((2, 24, 24, 3))
    with K.using('torch'):
        _forget_providers(model)
        first = model.predict(x)
        assert (model.predict(x, provider='torch') == first).all()
        summary = _auto_summary(model)
    assert summary['provider'] == 'torch' and set(summary['timings']) == {'torch_ms'}
    assert '_onnxruntime_session' not in model.__dict__


def test_auto_first_batch_gives_the_winners_results(model, monkeypatch):
    # Once onnxruntime is chosen, the batch that chose it is answered by it too: every
    # batch of that shape, the first included, gives the same bits.
    pytest.importorskip('onnxruntime')
    from kzoo.engine.inference import auto
    monkeypatch.setattr(auto, 'MIN_MS', 0.0)
    monkeypatch.setattr(auto, 'MIN_PARAMS', 0)
    monkeypatch.setattr(auto, 'MARGIN', 1e9)
    x = images((2, 24, 24, 3))
    with K.using('torch'):
        _forget_providers(model)
        first = model.predict(x)
        second = model.predict(x)
        assert _auto_summary(model)['provider'] == 'onnxruntime'
        assert '_inference_weights' not in model.__dict__  # the plan's kernels released
    assert (first == second).all()
    assert_matches(first, plain(model, x), 1e-4)
