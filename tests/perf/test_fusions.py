"""Each fusion and in-place rewrite of the plan compiler equals the plain path (1e-4).

Small graphs built for one rewrite each: BatchNormalization folded into Conv2D (with
and without bias, scale, center), ReLU fused three ways, residual sums (in place and
not), padding folded into the convolution, asymmetric 'same' padding, strides,
dilation, groups, channels_first, Dense with fused activations, lone BatchNormalization,
Add+ReLU, in-place ReLU next to a later reader, masks, and a user subclass of Conv2D.
"""
import numpy as np
import pytest

from kzoo import backend as K
from kzoo.engine import inference

from helpers import assert_matches
from perf_helpers import images, plain, randomize

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='inference plans need the torch backend')


@pytest.fixture(autouse=True)
def _torch():
    with K.using('torch'):
        yield


def _check(model, x, kinds=None, tol=1e-4):
    randomize(model)
    expected = plain(model, x)
    actual = model.predict(x)
    assert_matches(actual, expected, tol)
    steps = inference.plans_of(model)[-1].summary()['steps']
    for kind in kinds or ():
        assert kind in steps, steps
    return steps


def _model(inputs, outputs):
    from kzoo.models import Model
    return Model(inputs, outputs)


@pytest.mark.parametrize('use_bias,scale,center', [(True, True, True), (False, False, True),
                                                   (True, True, False)])
def test_batch_norm_folded_into_conv(use_bias, scale, center):
    from kzoo.layers import BatchNormalization, Conv2D, Input
    x = Input((9, 9, 3))
    y = Conv2D(5, 3, use_bias=use_bias)(x)
    y = BatchNormalization(scale=scale, center=center, epsilon=1e-3)(y)
    _check(_model(x, y), images((2, 9, 9, 3)), ['conv+bn'])


@pytest.mark.parametrize('how', ['activation', 'Activation', 'ReLU'])
def test_relu_fused(how):
    from kzoo.layers import Activation, Conv2D, Input, ReLU
    x = Input((8, 8, 4))
    if how == 'activation':
        y = Conv2D(6, 3, padding='same', activation='relu')(x)
    else:
        y = Conv2D(6, 3, padding='same')(x)
        y = Activation('relu')(y) if how == 'Activation' else ReLU()(y)
    _check(_model(x, y), images((2, 8, 8, 4)), ['conv+relu'])


def test_relu_with_arguments_not_fused():
    from kzoo.layers import Conv2D, Input, ReLU
    x = Input((8, 8, 4))
    y = ReLU(max_value=0.5)(Conv2D(6, 3)(x))
    steps = _check(_model(x, y), images((2, 8, 8, 4)))
    assert 'conv+relu' not in steps and 'ReLU' in steps


@pytest.mark.parametrize('shortcut_read_later', [False, True])
def test_residual_sum_fused(shortcut_read_later):
    from kzoo.layers import Activation, Add, BatchNormalization, Conv2D, Input, concatenate
    x = Input((7, 7, 8))
    a = Activation('relu')(Conv2D(8, 1)(x))         # a fresh tensor the sum may overwrite
    b = BatchNormalization()(Conv2D(8, 3, padding='same')(a))
    y = Activation('relu')(Add()([a, b]))
    if shortcut_read_later:                          # then it must not be overwritten
        y = concatenate([y, Conv2D(2, 1)(a)])
    _check(_model(x, y), images((2, 7, 7, 8)), ['conv+bn+add+relu'])


def test_residual_sum_with_model_input_not_overwritten():
    from kzoo.layers import Add, Conv2D, Input
    x = Input((5, 5, 4))
    y = Add()([x, Conv2D(4, 3, padding='same')(x)])
    model = _model(x, y)
    data = images((2, 5, 5, 4))
    kept = data.copy()
    _check(model, data, ['conv+add'])
    assert (data == kept).all()


def test_padding_folded_and_asymmetric_same():
    from kzoo.layers import Conv2D, Input, ZeroPadding2D
    x = Input((10, 10, 3))
    y = Conv2D(4, 7, strides=2)(ZeroPadding2D(3)(x))       # folded into the convolution
    y = Conv2D(4, 3, strides=2, padding='same')(y)         # TF's asymmetric padding
    y = Conv2D(4, 3, padding='same', dilation_rate=2)(y)
    y = Conv2D(4, (1, 3), padding='same')(ZeroPadding2D(((0, 1), (1, 0)))(y))  # not folded
    steps = _check(_model(x, y), images((2, 10, 10, 3)), ['pad+conv', 'ZeroPadding2D'])
    assert steps['conv'] == 3


def test_grouped_and_channels_first_convolutions():
    from kzoo.layers import BatchNormalization, Conv2D, Input
    x = Input((6, 6, 8))
    y = BatchNormalization()(Conv2D(8, 3, groups=4, padding='same')(x))
    _check(_model(x, y), images((2, 6, 6, 8)), ['conv+bn'])
    x = Input((3, 6, 6))
    y = Conv2D(4, 3, data_format='channels_first', activation='relu')(x)
    y = BatchNormalization(axis=1)(Conv2D(4, 3, data_format='channels_first')(y))
    _check(_model(x, y), images((2, 3, 6, 6)), ['conv+relu', 'conv+bn'])


def test_dense_activations_and_lone_batch_norm():
    from kzoo.layers import Activation, BatchNormalization, Dense, Input
    x = Input((12,))
    y = Activation('relu')(Dense(10)(x))
    y = BatchNormalization()(Dense(8, activation='tanh')(y))
    y = Dense(5, activation='softmax')(y)
    _check(_model(x, y), images((3, 12)), ['dense+relu', 'dense', 'affine'])
    x = Input((4, 6))                                    # Dense on a sequence
    _check(_model(x, Dense(3, activation='relu')(x)), images((2, 4, 6)), ['dense'])


def test_add_relu_and_in_place_relu_next_to_a_later_reader():
    from kzoo.layers import Activation, Add, Dense, Input, concatenate
    x = Input((6,))
    a, b = Dense(6)(x), Dense(6)(x)
    s = Activation('relu')(Add()([a, b]))
    r = Activation('relu')(Dense(6)(x))
    y = concatenate([Activation('relu')(s), r, Dense(2)(r)])  # r is read twice
    _check(_model(x, y), images((2, 6)), ['add+relu', 'relu'])


def test_masks_reach_kernels_through_the_layers():
    from kzoo.layers import LSTM, Dense, Embedding, Input
    x = Input((5,), dtype='int32')
    y = Dense(3, activation='relu')(LSTM(4, return_sequences=True)(
        Embedding(10, 4, mask_zero=True)(x)))
    model = _model(x, y)
    randomize(model)
    data = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0]], 'int32')
    assert_matches(model.predict(data), plain(model, data), 1e-4)


def test_user_subclass_keeps_its_call():
    from kzoo.layers import Conv2D, Input

    class Doubled(Conv2D):
        def call(self, inputs):
            return Conv2D.call(self, inputs) * 2

    x = Input((5, 5, 2))
    steps = _check(_model(x, Doubled(3, 3)(x)), images((2, 5, 5, 2)))
    assert steps == {'Doubled': 1}


def test_plain_provider_and_bad_names():
    from kzoo.errors import ConfigError
    from kzoo.layers import Dense, Input
    x = Input((3,))
    model = _model(x, Dense(2)(x))
    model.predict(np.ones((1, 3), 'float32'), provider='plain')
    assert inference.describe(model) == []
    with pytest.raises(ConfigError, match='precision'):
        model.predict(np.ones((1, 3), 'float32'), precision='float8')
    with pytest.raises(ConfigError, match='provider'):
        model.predict(np.ones((1, 3), 'float32'), provider='tvm')


def test_unknown_spatial_size_gets_a_plan_per_size():
    from kzoo.layers import BatchNormalization, Conv2D, GlobalAveragePooling2D, Input
    x = Input((None, None, 3))
    y = GlobalAveragePooling2D()(BatchNormalization()(Conv2D(4, 3, padding='same')(x)))
    model = _model(x, y)
    _check(model, images((1, 9, 9, 3)), ['conv+bn'])
    _check(model, images((2, 6, 7, 3)), ['conv+bn'])
    assert len(inference.plans_of(model)) == 2


def test_dense_kernels_packed_for_several_rows(monkeypatch):
    # From 2 rows (and in bfloat16) a large Dense runs oneDNN's matmul on a kernel packed
    # for its row count; one float32 row keeps BLAS on Keras's kernel (no copy).
    import torch
    from kzoo.engine.inference import kernels, lowering
    from kzoo.layers import Dense, Input
    monkeypatch.setattr(lowering, 'PACKED_DENSE_MIN', 0)  # "large": these small ones too
    x = Input((64,))
    model = _model(x, Dense(10)(Dense(32, activation='relu')(x)))
    randomize(model)
    for batch in (1, 2, 8):
        xb = images((batch, 64))
        assert_matches(model.predict(xb), plain(model, xb), 1e-4)
    modes = {p.shapes[0][0]: [s.fn.mode for s in p.steps if isinstance(s.fn, kernels.Linear)]
             for p in inference.plans_of(model)}
    packed = 'packed' if kernels.oneDNN_ready() else 'addmm'
    assert modes == {1: ['addmm', 'addmm'], 2: [packed] * 2, 8: [packed] * 2}
    if kernels.bfloat16_ready():
        reduced = model.predict(images((1, 64)), precision='bfloat16')
        assert_matches(reduced, plain(model, images((1, 64))), 2e-2)
        plan = [p for p in inference.plans_of(model) if p.precision == 'bfloat16'][0]
        assert [s.fn.mode for s in plan.steps if isinstance(s.fn, kernels.Linear)] == [
            'packed'] * 2
        assert plan.dtype == torch.bfloat16


@pytest.mark.parametrize('activation,padding,pool,fused', [
    ('relu', 1, 3, True),
    ('relu', ((1, 1), (0, 0)), 3, True),
    ('relu', ((0, 1), (1, 0)), 3, False),   # asymmetric: torch pads both sides alike
    ('relu', 2, 3, False),                  # more than half the window
    (None, 1, 3, False),                    # negative values: a zero could be the maximum
])
def test_zero_padding_folded_into_max_pool_after_relu(activation, padding, pool, fused):
    from kzoo.layers import Conv2D, Input, MaxPooling2D, ZeroPadding2D
    x = Input((10, 10, 3))
    y = Conv2D(6, 3, activation=activation)(x)
    y = MaxPooling2D(pool, strides=2)(ZeroPadding2D(padding)(y))
    model = _model(x, y)
    xs = images((2, 10, 10, 3)) * 2
    steps = _check(model, xs)
    assert ('pad+maxpool' in steps) == fused, steps
    if fused:  # the bfloat16 plan folds it too, within bfloat16's rounding
        assert_matches(model.predict(xs, precision='bfloat16'), plain(model, xs), 5e-2)
        assert 'pad+maxpool' in inference.plans_of(model)[-1].summary()['steps']


@pytest.mark.parametrize('pool,strides,padding,data_format', [
    (2, 2, 'valid', 'channels_last'),
    (3, 2, 'valid', 'channels_last'),
    (3, 1, 'same', 'channels_last'),
    (3, (2, 1), 'same', 'channels_last'),
    (3, 2, 'valid', 'channels_first'),
])
def test_max_pool_by_strided_views_equals_plain_path(monkeypatch, pool, strides, padding,
                                                     data_format):
    # Strided views replace torch's pooling where its index buffer would be mapped afresh
    # on every call (past 32 MiB); forced here on small inputs, one image at a time.
    from kzoo.engine.inference import kernels
    from kzoo.layers import Conv2D, Input, MaxPooling2D, ZeroPadding2D
    monkeypatch.setattr(kernels, 'FRESH_MAP_BYTES', 0)
    shape = (11, 10, 3) if data_format == 'channels_last' else (3, 11, 10)
    x = Input(shape)
    y = Conv2D(6, 3, data_format=data_format)(x)  # linear: negative values too
    y = MaxPooling2D(pool, strides, padding, data_format=data_format)(y)
    y = Conv2D(4, 1, activation='relu', data_format=data_format)(y)
    y = MaxPooling2D(3, 2, data_format=data_format)(ZeroPadding2D(1, data_format=data_format)(y))
    model = _model(x, y)
    xs = images((3,) + shape) * 2
    steps = _check(model, xs, ['maxpool', 'pad+maxpool'])
    plan = inference.plans_of(model)[-1]
    pools = [c.cell_contents for s in plan.steps if s.fn is not None and s.note.endswith('maxpool')
             for c in (s.fn.__closure__ or ()) if isinstance(c.cell_contents, kernels.MaxPool)]
    assert len(pools) == 2 and all(p.views and p.chunk == 1 for p in pools), steps
    assert_matches(model.predict(xs, precision='bfloat16'), plain(model, xs), 5e-2)


def test_max_pool_kernel_matches_torch_exactly():
    import torch
    import torch.nn.functional as F
    from kzoo.engine.inference import kernels
    rng = np.random.default_rng(0)
    for size, strides, pads, shape in [((2, 2), (2, 2), (0, 0), (3, 5, 9, 8)),
                                       ((3, 3), (2, 2), (1, 1), (2, 4, 12, 13)),
                                       ((3, 2), (1, 2), (1, 0), (2, 3, 7, 6)),
                                       ((5, 5), (3, 3), (2, 2), (1, 2, 16, 16))]:
        x = torch.from_numpy(rng.normal(size=shape).astype('float32'))
        for memory_format in (torch.contiguous_format, torch.channels_last):
            xm = x.contiguous(memory_format=memory_format)
            pool = kernels.MaxPool(size, strides, pads, shape)
            pool.views, pool.chunk = True, 2
            got = pool(xm)
            assert torch.equal(got, F.max_pool2d(xm, size, strides, pads)), (size, pads)
            assert got.is_contiguous(memory_format=memory_format)
