"""A plan is compiled once per model and input shape, and compiled again whenever a
weight changes: set_weights, load_weights, training, or a write to one variable."""
import numpy as np
import pytest

from kzoo import backend as K
from kzoo.engine import inference

from helpers import assert_matches
from perf_helpers import images, plain, randomize

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='inference plans need the torch backend')


@pytest.fixture
def model():
    from kzoo.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
    from kzoo.models import Model
    with K.using('torch'):
        x = Input((6, 6, 3))
        y = BatchNormalization()(Conv2D(4, 3, activation=None)(x))
        y = Dense(3)(Flatten()(y))
        yield randomize(Model(x, y))


def _plans(model):
    return inference.plans_of(model)


def test_plan_compiled_once_per_shape(model):
    x = images((2, 6, 6, 3))
    model.predict(x)
    first = _plans(model)[0]
    model.predict(x)
    assert _plans(model) == [first]
    model.predict(x[:1])
    assert len(_plans(model)) == 2


def test_set_weights_invalidates(model):
    x = images((2, 6, 6, 3))
    before = model.predict(x)
    old = _plans(model)[0]
    randomize(model, seed=7)  # set_weights on every layer
    after = model.predict(x)
    assert _plans(model)[0] is not old
    assert not np.allclose(before, after)
    assert_matches(after, plain(model, x), 1e-4)


def test_model_set_weights_and_load_weights_invalidate(model, tmp_path):
    x = images((2, 6, 6, 3))
    weights = model.get_weights()
    model.predict(x)
    model.set_weights([w * 0.5 for w in weights])
    assert_matches(model.predict(x), plain(model, x), 1e-4)
    path = str(tmp_path / 'w.h5')
    model.set_weights(weights)
    model.save_weights(path)
    model.set_weights([w + 1 for w in weights])
    model.predict(x)
    model.load_weights(path)
    assert_matches(model.predict(x), plain(model, x), 1e-4)


def test_one_variable_written_in_place_invalidates(model):
    x = images((2, 6, 6, 3))
    model.predict(x)
    bn = model.layers[2]
    K.set_value(bn.moving_mean, np.full(4, 3.0, 'float32'))
    assert_matches(model.predict(x), plain(model, x), 1e-4)


def test_training_invalidates(model):
    x = images((8, 6, 6, 3))
    model.predict(x)
    model.compile('sgd', 'mse')
    model.fit(x, np.ones((8, 3), 'float32'), epochs=1, verbose=0)
    assert_matches(model.predict(x), plain(model, x), 1e-4)


def test_clear_plans(model):
    model.predict(images((1, 6, 6, 3)))
    inference.clear_plans(model)
    assert _plans(model) == []


def test_batch_sizes_share_prepared_weights(model):
    model.predict(images((2, 6, 6, 3)))
    prepared = dict(model.__dict__['_inference_weights'][1])
    model.predict(images((5, 6, 6, 3)))
    assert len(_plans(model)) == 2
    assert model.__dict__['_inference_weights'][1] == prepared  # the same objects, reused
    randomize(model, seed=3)
    model.predict(images((5, 6, 6, 3)))
    assert all(model.__dict__['_inference_weights'][1][k] is not v for k, v in prepared.items())


def test_each_batch_gets_the_layout_onednn_wants():
    # ResNet50's 1024x256 1x1 kernel on 14x14: with two threads oneDNN blocks it by 64
    # output channels for batch 1 and by 48 for batch 2. Kernels prepared for one batch
    # and run on the other were reordered on every call; each plan must hold its own.
    import torch
    from kzoo.engine.inference import kernels
    from kzoo.layers import Conv2D, Input
    from kzoo.models import Model
    if not kernels.oneDNN_ready():
        pytest.skip('needs oneDNN')
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with K.using('torch'):
            x = Input((14, 14, 256))
            model = randomize(Model(x, Conv2D(1024, 1, activation='relu')(x)))
            for batch in (1, 2):
                xb = images((batch, 14, 14, 256))
                assert_matches(model.predict(xb), plain(model, xb), 1e-4)
            layer = model.layers[1]
            w = torch.from_numpy(layer.get_weights()[0]).permute(3, 2, 0, 1)
            for plan in _plans(model):
                batch = plan.shapes[0][0]
                want = kernels.ConvWeights(w, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1,
                                           input_shape=(batch, 256, 14, 14)).layout
                conv = [s for s in plan.steps if s.fn is not None][0]
                got = [c.cell_contents for c in conv.fn.__closure__
                       if isinstance(c.cell_contents, kernels.Conv)][0]
                assert got.layout == want, batch
    finally:
        torch.set_num_threads(previous)


def test_thread_count_is_part_of_the_plan(model):
    import torch
    x = images((2, 6, 6, 3))
    model.predict(x)
    previous = torch.get_num_threads()
    torch.set_num_threads(previous + 1)
    try:
        assert_matches(model.predict(x), plain(model, x), 1e-4)
    finally:
        torch.set_num_threads(previous)
    assert len(_plans(model)) == 2


def test_forgotten_plans_release_their_prepared_weights(model, monkeypatch):
    from kzoo.engine.inference import plan as plan_module
    monkeypatch.setattr(plan_module, 'MAX_PLANS', 1)
    for batch in (2, 5, 1):
        x = images((batch, 6, 6, 3))
        assert_matches(model.predict(x), plain(model, x), 1e-4)
    [last] = _plans(model)
    assert set(model.__dict__['_inference_weights'][1]) == set(last.shared_keys)
    inference.clear_plans(model)
    assert '_inference_weights' not in model.__dict__


@pytest.mark.parametrize('provider', ['torch', 'auto', 'onnxruntime'])
def test_sequential_add_and_pop_recompile(provider, monkeypatch):
    # A weightless layer added or removed changes no weight, only the graph: the plan (or
    # onnxruntime session, or auto's choice) of the old graph must not answer.
    from kzoo.engine.inference import auto
    from kzoo.layers import Activation, Dense
    from kzoo.models import Sequential
    if provider != 'torch':
        pytest.importorskip('onnxruntime')
        monkeypatch.setattr(auto, 'MIN_MS', 0.0)
        monkeypatch.setattr(auto, 'MIN_PARAMS', 0)
        monkeypatch.setattr(auto, 'MARGIN', 1e9)  # auto: onnxruntime
    with K.using('torch'):
        model = randomize(Sequential([Dense(4, input_shape=(3,))]))
        x = images((2, 3)) - 1
        dense = model.layers[0]
        kernel, bias = dense.get_weights()
        # x < 0: even columns come out negative, odd ones positive, so the ReLU matters.
        signs = np.where(np.arange(kernel.shape[1]) % 2, -1., 1.).astype('float32')
        dense.set_weights([np.abs(kernel) * signs + 0.1 * signs, 0. * bias])
        for change in (None, lambda: model.add(Activation('relu')), model.pop):
            if change:
                change()
            assert_matches(model.predict(x, provider=provider), plain(model, x), 1e-4)
    assert (plain(model, x) < 0).any() and (plain(model, x) > 0).any()


def test_signature_sees_nested_models_and_sublayer_weights():
    # The signature walks layers' weight specs itself (it runs on every batch): a write
    # to a weight of a model inside the model, or of a wrapper's inner layer, must count.
    from kzoo.engine.inference.plan import weights_signature
    from kzoo.layers import LSTM, Bidirectional, Dense, Input
    from kzoo.models import Model
    with K.using('torch'):
        x = Input((5, 4))
        wrapped = Model(x, Bidirectional(LSTM(2))(x))
        inner_in = Input((4,))
        inner = Model(inner_in, Dense(3)(inner_in))
        outer_in = Input((4,))
        outer = Model(outer_in, Dense(2)(inner(outer_in)))
        for model in (wrapped, outer):
            variables = model.weights
            before = weights_signature(model)
            assert set(before[1][::2]) == {id(v) for v in variables}
            for v in variables:
                K.set_value(v, K.get_value(v) + 1)
                after = weights_signature(model)
                assert after != before
                before = after
        xb = images((2, 4))
        assert_matches(outer.predict(xb), plain(outer, xb), 1e-4)
        inner.set_weights([w * 2 for w in inner.get_weights()])
        assert_matches(outer.predict(xb), plain(outer, xb), 1e-4)
