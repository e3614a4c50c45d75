"""The training API's behaviour beyond numerics: what acts only in training, optimizer
state and configs, generators, argument spellings, errors.

Numerics are proven against Keras 3 in the ``*_oracle`` tests; here kzoo is compared
with itself under two routes that must agree (interrupted vs uninterrupted training,
generator vs arrays, Keras 1 vs Keras 2 spellings) and with Keras's documented results.
"""
import numpy as np
import pytest

from helpers import assert_matches
from kzoo import backend as K, callbacks, optimizers
from kzoo import layers as kl
from kzoo.errors import ConfigError, ShapeError
from kzoo.models import Model, Sequential


def _xy(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype('float32')
    y = (x @ rng.normal(size=(4, 2))).astype('float32')
    return x, y


def _mlp(seed=0, extra=None):
    layers = [kl.Dense(6, activation='tanh', input_shape=(4,))] + (extra or []) + [kl.Dense(2)]
    model = Sequential(layers)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-.5, .5, w.shape).astype('float32')
                       for w in model.get_weights()])
    return model


@pytest.mark.parametrize('noise', [lambda: kl.Dropout(0.5), lambda: kl.GaussianNoise(1.),
                                   lambda: kl.GaussianDropout(0.5)])
def test_noise_layers_act_only_in_training(train_backend, noise):
    x, y = _xy()
    model = _mlp(extra=[noise()])
    model.compile(optimizers.SGD(0.), 'mse')  # lr 0: weights never move
    test_loss = model.test_on_batch(x, y)
    assert model.test_on_batch(x, y) == test_loss  # inference is deterministic
    train_losses = {round(model.train_on_batch(x, y), 6) for _ in range(3)}
    assert test_loss not in train_losses and len(train_losses) > 1
    assert_matches(model.evaluate(x, y), test_loss, 1e-6)


def test_batch_normalization_updates_moving_statistics(train_backend):
    x, y = _xy()
    model = _mlp(extra=[kl.BatchNormalization()])
    model.compile('sgd', 'mse')
    bn = model.layers[1]
    mean_before = K.get_value(bn.moving_mean)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    # One batch of all the data: moving = 0.99 * old + 0.01 * the batch statistic, taken
    # in the forward pass, before the step (with the initial weights).
    w = _mlp().layers[0].get_weights()
    batch_mean = np.tanh(x @ w[0] + w[1]).mean(axis=0)
    assert_matches(K.get_value(bn.moving_mean), 0.99 * mean_before + 0.01 * batch_mean, 1e-6)
    model.predict(x)  # inference leaves them alone
    assert_matches(K.get_value(bn.moving_mean), 0.99 * mean_before + 0.01 * batch_mean, 1e-6)


def test_optimizer_state_round_trip(train_backend):
    """Saving the optimizer's weights mid-training and loading them into a fresh model
    and optimizer continues exactly as uninterrupted training."""
    x, y = _xy()
    for name in ('SGD', 'RMSprop', 'Adagrad', 'Adadelta', 'Adam', 'Adamax', 'Nadam'):
        kwargs = {'momentum': 0.9} if name == 'SGD' else {}
        a = _mlp()
        a.compile(getattr(optimizers, name)(learning_rate=0.05, **kwargs), 'mse')
        a.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        saved_weights, saved_state = a.get_weights(), a.optimizer.get_weights()
        config = optimizers.serialize(a.optimizer)
        assert len(saved_state) == len(a.optimizer.weight_names())
        a.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

        b = _mlp()
        b.set_weights(saved_weights)
        b.compile(optimizers.deserialize(config), 'mse')
        b._make_train_function()
        b.optimizer.set_weights(saved_state)
        assert int(b.optimizer.iterations) == 4
        b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        for w, v in zip(a.get_weights(), b.get_weights()):
            assert_matches(w, v, 1e-6, name)


def test_optimizer_weights_order_and_keras2_files(train_backend):
    model = _mlp()
    model.compile(optimizers.Adam(amsgrad=False), 'mse')
    model._make_train_function()
    state = model.optimizer.get_weights()
    shapes = [tuple(K.int_shape(w)) for w in model.trainable_weights]
    assert [s.shape for s in state] == [()] + shapes + shapes  # iterations, ms, vs
    names = model.optimizer.weight_names()
    first = model.layers[0].name
    assert names[:2] == ['Adam/iterations:0', 'Adam/%s/kernel/momentum:0' % first]
    assert len(set(names)) == len(names)
    # Keras 2.2 Adam also wrote one-element vhats when amsgrad was off: accepted.
    model.optimizer.set_weights(state + [np.zeros(1, 'float32')] * len(shapes))
    with pytest.raises(ShapeError, match='expects 9 weight arrays'):
        model.optimizer.set_weights(state[:-1])


def test_optimizer_configs():
    for identifier in ('sgd', 'rmsprop', 'adagrad', 'adadelta', 'adam', 'adamax', 'nadam'):
        opt = optimizers.get(identifier)
        again = optimizers.deserialize(optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
    keras2 = {'class_name': 'Adam', 'config': {'lr': 0.002, 'beta_1': 0.8, 'beta_2': 0.99,
                                               'epsilon': None, 'decay': 0.01,
                                               'amsgrad': True}}
    opt = optimizers.get(keras2)
    assert float(opt.lr.get_value()) == pytest.approx(0.002) and opt.amsgrad
    assert opt.epsilon == K.epsilon() and opt.get_config()['decay'] == 0.01
    keras3 = {'class_name': 'SGD', 'config': {
        'name': 'SGD', 'learning_rate': 0.01, 'weight_decay': None, 'clipnorm': None,
        'global_clipnorm': None, 'clipvalue': None, 'use_ema': False, 'ema_momentum': 0.99,
        'ema_overwrite_frequency': None, 'loss_scale_factor': None,
        'gradient_accumulation_steps': None, 'momentum': 0.5, 'nesterov': True}}
    assert optimizers.get(keras3).nesterov
    assert optimizers.get({'class_name': 'Custom>Adam', 'config': {}}).amsgrad is False
    with pytest.raises(ConfigError, match='use_ema'):
        optimizers.get({'class_name': 'Adam', 'config': {'use_ema': True}})
    with pytest.raises(ConfigError, match='schedules'):
        optimizers.Adam(learning_rate={'class_name': 'ExponentialDecay', 'config': {}})
    with pytest.raises(ConfigError, match='only one of'):
        optimizers.SGD(clipnorm=1., clipvalue=1.)


def test_learning_rate_variable(train_backend):
    model = _mlp()
    model.compile(optimizers.SGD(0.1), 'mse')
    lr = model.optimizer.lr
    assert lr is model.optimizer.learning_rate
    assert float(lr.get_value()) == pytest.approx(0.1)
    lr.set_value(0.01)
    assert float(K.get_value(model.optimizer.lr)) == pytest.approx(0.01)
    K.set_value(model.optimizer.lr, 0.5)
    assert float(lr.get_value()) == 0.5
    model.optimizer.lr = 0.25  # Keras 2 users assign; the variable object stays
    assert model.optimizer.lr is lr and float(lr) == 0.25
    with K.using('numpy'):
        K.set_value(lr, 0.125)
        assert float(K.get_value(lr)) == 0.125


class _Batches(object):
    """A ``Sequence``: batches by index, and an ``on_epoch_end`` hook."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size, self.epochs_ended = x, y, batch_size, 0

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _generator(x, y, batch_size):
    while True:
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]


def test_generators_train_like_arrays(train_backend):
    x, y = _xy()
    ref = _mlp()
    ref.compile('adam', 'mse', metrics=['mae'])
    h_ref = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                    validation_data=(x[:8], y[:8]))

    seq = _Batches(x, y, 8)
    a = _mlp()
    a.compile('adam', 'mse', metrics=['mae'])
    h_a = a.fit_generator(seq, epochs=2, shuffle=False, verbose=0,
                          validation_data=_generator(x[:8], y[:8], 8), validation_steps=1)
    assert seq.epochs_ended == 2
    b = _mlp()
    b.compile('adam', 'mse', metrics=['mae'])
    h_b = b.fit_generator(_generator(x, y, 8), samples_per_epoch=32, nb_epoch=2, verbose=0,
                          validation_data=(x[:8], y[:8]))  # Keras 1 spellings
    c = _mlp()
    c.compile('adam', 'mse', metrics=['mae'])
    h_c = c.fit(_Batches(x, y, 8), epochs=2, shuffle=False, verbose=0,
                validation_data=(x[:8], y[:8]))
    for h in (h_a, h_b, h_c):
        assert sorted(h.history) == sorted(h_ref.history)
        for key in h_ref.history:
            assert_matches(h.history[key], h_ref.history[key], 1e-6, key)
    assert h_a.params['steps'] == 4
    assert_matches(a.evaluate_generator(_Batches(x, y, 8)), ref.evaluate(x, y, batch_size=8),
                   1e-6)
    assert_matches(a.predict_generator(_generator(x, y, 8), steps=4), ref.predict(x), 1e-6)
    assert_matches(a.predict(_Batches(x, y, 8)), ref.predict(x), 1e-6)
    with pytest.raises(ConfigError, match='steps'):
        a.fit_generator(_generator(x, y, 8), epochs=1, verbose=0)


def test_outputs_api_and_spellings(train_backend):
    x, y = _xy()
    inp = kl.Input(shape=(4,), name='inp')
    h = kl.Dense(5, activation='relu', name='h')(inp)
    a = kl.Dense(2, name='a')(h)
    b = kl.Dense(3, activation='softmax', name='b')(h)
    model = Model(inp, [a, b])
    labels = np.eye(3, dtype='float32')[np.arange(len(x)) % 3]
    model.compile('sgd', loss={'a': 'mse', 'b': 'categorical_crossentropy'},
                  metrics={'b': ['acc', 'top_k_categorical_accuracy']})
    assert model.metrics_names == ['loss', 'a_loss', 'b_loss', 'b_acc',
                                   'b_top_k_categorical_accuracy']
    out = model.train_on_batch(x, {'a': y, 'b': labels})
    assert len(out) == 5 and out[4] == 1.0  # top-5 of 3 classes
    d = model.test_on_batch(x, [y, labels], return_dict=True)
    assert set(d) == set(model.metrics_names)
    h = model.fit(x, [y, labels], nb_epoch=2, batch_size=16, verbose=0)  # Keras 1 nb_epoch
    assert len(h.history['loss']) == 2
    # An output without a loss needs no targets.
    model.compile('sgd', loss={'a': 'mse'})
    assert model.metrics_names == ['loss', 'a_loss']
    model.fit(x, {'a': y}, verbose=0)
    model.fit(x, [y], verbose=0)
    with pytest.raises(ShapeError, match='different numbers|samples'):
        model.fit(x, {'a': y[:5]}, verbose=0)
    with pytest.raises(ConfigError, match='unknown output'):
        model.compile('sgd', loss={'c': 'mse'})
    with pytest.raises(ConfigError, match='list of 3'):
        model.compile('sgd', loss=['mse'] * 3)
    with pytest.raises(ConfigError, match='compiled'):
        Model(inp, a).fit(x, y, verbose=0)


def test_sample_weights_and_class_weights(train_backend):
    x, y = _xy()
    model = _mlp()
    model.compile('sgd', 'mse')
    sw = np.linspace(0., 2., len(x)).astype('float32')
    per_sample = ((model.predict(x) - y) ** 2).mean(axis=1)
    assert_matches(model.evaluate(x, y, sample_weight=sw), (per_sample * sw).mean(), 1e-5)
    # temporal weights: one per time step of a sequence output
    seq = Sequential([kl.TimeDistributed(kl.Dense(2), input_shape=(3, 4))])
    seq.compile('sgd', 'mse', sample_weight_mode='temporal')
    xs = np.stack([x[:8]] * 3, axis=1)
    ys = np.stack([y[:8]] * 3, axis=1)
    tw = np.tile(np.array([[1., 0., 2.]], 'float32'), (8, 1))
    steps = ((seq.predict(xs) - ys) ** 2).mean(axis=2)
    assert_matches(seq.evaluate(xs, ys, sample_weight=tw), (steps * tw).mean(), 1e-5)
    # class weights scale each sample's loss by its class's weight
    clf = Sequential([kl.Dense(3, activation='softmax', input_shape=(4,))])
    clf.compile('sgd', 'sparse_categorical_crossentropy')
    labels = (np.arange(len(x)) % 3).reshape(-1, 1)
    weights = {0: 1., 1: 0., 2: 3.}
    p = clf.predict(x)
    ce = -np.log(np.clip(p[np.arange(len(x)), labels[:, 0]], 1e-7, 1.))
    expected = (ce * np.array([weights[c] for c in labels[:, 0]])).mean()
    assert_matches(clf.train_on_batch(x, labels, class_weight=weights), expected, 1e-5)
    with pytest.raises(ShapeError, match='class'):
        clf.train_on_batch(x, labels, class_weight={0: 1.})


def test_sequential_learns_its_input_shape_from_data(train_backend):
    x, y = _xy()
    model = Sequential([kl.Dense(3), kl.Dense(2)])
    model.compile('sgd', 'mse', metrics=['mae'])  # no input shape yet: built by fit
    history = model.fit(x, y, verbose=0)
    assert model.predict(x).shape == (32, 2) and sorted(history.history) == ['loss', 'mae']
    assert model.metrics_names == ['loss', 'mae']


def test_stop_training_set_at_epoch_end(train_backend):
    x, y = _xy()
    model = _mlp()
    model.compile('sgd', 'mse')
    stop = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, 'stop_training', epoch == 1))
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop])
    assert history.epoch == [0, 1]


def test_initial_epoch(train_backend):
    x, y = _xy()
    model = _mlp()
    model.compile('sgd', 'mse')
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]
