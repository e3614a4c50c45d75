"""Optimizers: SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam.

Update rules follow Keras 3 (``keras.optimizers``): where epsilon sits, Nadam's
momentum schedule, per-variable ``clipnorm``. Keras 2 options Keras 3 dropped keep
their Keras 2 meaning: ``decay`` divides the learning rate by
``1 + decay * iterations``, Nadam's ``schedule_decay`` restores Keras 2's schedule,
``lr`` is an alias of ``learning_rate``.

``opt.lr`` (also ``opt.learning_rate``) is a small host-side variable: read and set it
as in the seed (``opt.lr.get_value()``, ``opt.lr.set_value(0.01)``) or through the
backend (``K.get_value(opt.lr)``, ``K.set_value(opt.lr, 0.01)``).

Optimizer state (``weights``) is ``[iterations] + slots``, slot kind by slot kind, in
Keras 2 order, so ``get_weights``/``set_weights`` read and write the
``optimizer_weights`` of a Keras 2 ``.h5`` file.

>>> opt = get({'class_name': 'SGD', 'config': {'lr': 0.5, 'momentum': 0.9}})
>>> float(opt.lr.get_value()), opt.momentum
(0.5, 0.9)
>>> opt.lr.set_value(0.01)
>>> serialize(opt)['config']['learning_rate']
0.01
"""
import math

import numpy as np

from kzoo import backend as K
from kzoo.errors import ConfigError, ShapeError
from kzoo.utils.generic_utils import Registry, deserialize_object

OPTIMIZERS = Registry('optimizer')

__all__ = ['Optimizer', 'SGD', 'RMSprop', 'Adagrad', 'Adadelta', 'Adam', 'Adamax', 'Nadam',
           'HostVariable', 'OPTIMIZERS', 'get', 'serialize', 'deserialize']


class HostVariable(object):
    """A scalar hyperparameter that lives on the host (learning rate, iterations).

    It has the seed's ``get_value()``/``set_value()``, works with ``K.get_value`` and
    ``K.set_value`` on every backend, and with ``float()``, ``int()`` and arithmetic.

    >>> lr = HostVariable(0.1, 'learning_rate')
    >>> lr.set_value(0.5); float(lr * 2)
    1.0
    """

    def __init__(self, value, name, dtype='float32'):
        self.name, self.dtype = name, dtype
        self.shape = ()
        self._value = np.array(value, dtype=dtype)

    def get_value(self):
        return self._value.copy()[()]

    def set_value(self, value):
        if type(value) in (int, float):  # each step's iteration count: the quick way
            self._value = np.array(value, dtype=self.dtype)
            return
        value = np.asarray(value)
        if value.shape not in ((), (1,)):
            raise ShapeError('%s is a scalar; cannot set it to an array of shape %s'
                             % (self.name, value.shape))
        self._value = np.array(value.reshape(()), dtype=self.dtype)

    def assign(self, value):
        self.set_value(value)

    def numpy(self):
        return self.get_value()

    def __setitem__(self, key, value):  # the numpy backend's set_value writes x[...]
        self.set_value(value)

    def __array__(self, dtype=None, copy=None):
        return np.array(self._value, dtype=dtype)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

    def __index__(self):
        return int(self._value)

    def __repr__(self):
        return '<HostVariable %s=%s>' % (self.name, self._value)

    def _binary(op):
        return lambda self, other: op(self.get_value(), np.asarray(other))

    __add__, __radd__ = _binary(lambda a, b: a + b), _binary(lambda a, b: b + a)
    __sub__, __rsub__ = _binary(lambda a, b: a - b), _binary(lambda a, b: b - a)
    __mul__, __rmul__ = _binary(lambda a, b: a * b), _binary(lambda a, b: b * a)
    __truediv__, __rtruediv__ = _binary(lambda a, b: a / b), _binary(lambda a, b: b / a)
    __pow__ = _binary(lambda a, b: a ** b)
    __lt__, __le__ = _binary(lambda a, b: a < b), _binary(lambda a, b: a <= b)
    __gt__, __ge__ = _binary(lambda a, b: a > b), _binary(lambda a, b: a >= b)
    __eq__ = _binary(lambda a, b: a == b)
    __hash__ = object.__hash__
    __neg__ = lambda self: -self.get_value()
    del _binary


# Keys of Keras 3 / tf.keras configs that change nothing at these values (any value
# for the compilation hints).
_INERT_KERAS3 = {'weight_decay': (None, 0, 0.), 'use_ema': (False,),
                 'ema_momentum': None, 'ema_overwrite_frequency': (None,),
                 'loss_scale_factor': (None,), 'gradient_accumulation_steps': (None, 1),
                 'is_legacy_optimizer': None, 'jit_compile': None}


class Optimizer(object):
    """Base class: hyperparameters, gradient clipping, slots and their (de)serialization.

    Subclasses list their own constructor arguments in ``config_fields``, name their
    slot kinds in ``slot_names`` and implement ``update``, list-wise over all variables.
    """
    config_fields = ()
    slot_names = ()

    def __init__(self, learning_rate=0.001, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, decay=0., name=None, lr=None, **kwargs):
        for key, value in kwargs.items():
            if key not in _INERT_KERAS3:
                raise ConfigError('%s: keyword argument not understood: %r'
                                  % (type(self).__name__, key))
            if _INERT_KERAS3[key] is not None and value not in _INERT_KERAS3[key]:
                raise ConfigError('%s: %s=%r is a Keras 3 option kzoo does not implement'
                                  % (type(self).__name__, key, value))
        if lr is not None:  # Keras 1/2 spelling
            learning_rate = lr
        if isinstance(learning_rate, dict):
            raise ConfigError('%s: learning-rate schedules (%s) are not supported; use a '
                              'float and a LearningRateScheduler callback'
                              % (type(self).__name__, learning_rate.get('class_name')))
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ConfigError('%s: only one of clipnorm, clipvalue and global_clipnorm can '
                              'be set' % type(self).__name__)
        self.name = name or type(self).__name__.lower()
        self.learning_rate = HostVariable(learning_rate, 'learning_rate')
        self.iterations = HostVariable(0, 'iterations', dtype='int64')
        self.decay = HostVariable(decay or 0., 'decay')
        self.initial_decay = float(decay or 0.)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self._variables = None
        self._slots = {}

    # ---- Keras 1/2 spellings ----------------------------------------------------------

    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    def __setattr__(self, name, value):
        # ``opt.lr = 0.1`` / ``opt.learning_rate = 0.1`` keep the same variable object,
        # so callbacks and K.get_value still see it.
        current = self.__dict__.get(name)
        if isinstance(current, HostVariable) and not isinstance(value, HostVariable):
            current.set_value(value)
        else:
            object.__setattr__(self, name, value)

    # ---- state ----------------------------------------------------------------------

    def build(self, variables, names=None):
        """Create the slots (zeros, or ``initial_slot_value``) for ``variables``;
        ``names`` (``'dense_1/kernel'``, ...) name their state in ``weight_names``."""
        self._variables = list(variables)
        self._variable_names = list(names) if names is not None else [
            _plain_name(getattr(v, 'name', None)) or 'variable_%d' % i
            for i, v in enumerate(self._variables)]
        for kind in self.slot_names_for_config():
            self._slots[kind] = [self._make_slot(v, kind) for v in self._variables]
        self._build_extra()

    def slot_names_for_config(self):
        return self.slot_names

    def _build_extra(self):
        pass

    def _make_slot(self, variable, kind):
        value = np.full(K.int_shape(variable), self.initial_slot_value(kind),
                        dtype=K.dtype(variable))
        return K.variable(value, dtype=K.dtype(variable),
                          name='%s/%s' % (self.name, kind), trainable=False)

    def initial_slot_value(self, kind):
        return 0.

    @property
    def built(self):
        return self._variables is not None

    def _extra_weights(self):
        """Host-side state saved after ``iterations`` (Nadam's momentum schedule)."""
        return []

    @property
    def weights(self):
        """``[iterations] + extra + slots`` (slot kind by slot kind), Keras 2 order."""
        slots = [s for kind in self.slot_names_for_config() for s in self._slots.get(kind, [])]
        return [self.iterations] + self._extra_weights() + slots

    variables = weights

    def weight_names(self):
        """Names for the ``optimizer_weights`` group of an ``.h5`` file."""
        prefix = type(self).__name__
        names = ['%s/iterations:0' % prefix]
        names += ['%s/%s:0' % (prefix, w.name) for w in self._extra_weights()]
        for kind in self.slot_names_for_config():
            for name in getattr(self, '_variable_names', []):
                names.append('%s/%s/%s:0' % (prefix, name, kind))
        return names

    def get_weights(self):
        """Numpy copies of :attr:`weights`."""
        return [np.array(K.get_value(w)) for w in self.weights]

    def set_weights(self, weights, variables=None):
        """Restore the state written by :meth:`get_weights` (or by Keras 2).

        The optimizer must be built (for a compiled model: ``model._make_train_state()``
        builds it, as loading a model does). Keras 2.2 files that carry slots this
        configuration does not use (SGD moments without momentum, Adam's one-element
        ``vhats`` without amsgrad) are accepted and those slots ignored.
        """
        if variables is not None and not self.built:
            self.build(variables)
        if not self.built:
            raise ConfigError('optimizer %s has no state yet: build it (compile the model and '
                              'call model._make_train_state()) before set_weights' % self.name)
        weights = [np.asarray(w) for w in weights]
        targets = self.weights
        weights = self._drop_keras22_placeholders(weights, len(targets))
        if len(weights) != len(targets):
            raise ShapeError('optimizer %s expects %d weight arrays (iterations%s), got %d'
                             % (self.name, len(targets),
                                ''.join(' + %d %s' % (len(self._variables), k)
                                        for k in self.slot_names_for_config()),
                                len(weights)))
        for target, value in zip(targets, weights):
            if isinstance(target, HostVariable):
                target.set_value(np.asarray(value).reshape(()))
                continue
            if tuple(K.int_shape(target)) != tuple(value.shape):
                raise ShapeError('optimizer %s: a state array has shape %s, expected %s'
                                 % (self.name, value.shape, tuple(K.int_shape(target))))
        K.batch_set_value([(t, v) for t, v in zip(targets, weights)
                           if not isinstance(t, HostVariable)])

    def _drop_keras22_placeholders(self, weights, expected):
        n = len(self._variables)
        extra = len(weights) - expected
        if extra == n and n and all(w.shape in ((1,),) or w.shape == tuple(K.int_shape(v))
                                    for w, v in zip(weights[-n:], self._variables)):
            return weights[:-n]  # Keras 2.2 Adam vhats / SGD moments it did not use
        return weights

    # ---- updates --------------------------------------------------------------------

    def current_learning_rate(self):
        """The learning rate of this step, with Keras 2's ``decay`` applied."""
        lr = float(self.learning_rate)
        if self.initial_decay > 0:
            lr = lr / (1. + float(self.decay) * int(self.iterations))
        return lr

    def _clip(self, grads):
        if self.clipvalue is not None and self.clipvalue > 0:
            v = float(self.clipvalue)
            return [None if g is None else K.clip(g, -v, v) for g in grads]
        if self.clipnorm is not None and self.clipnorm > 0:
            return [None if g is None else _clip_by_norm(g, float(self.clipnorm))
                    for g in grads]
        if self.global_clipnorm is not None and self.global_clipnorm > 0:
            present = [g for g in grads if g is not None]
            total = math.sqrt(sum(float(K.to_numpy(K.sum(K.square(g)))) for g in present))
            scale = float(self.global_clipnorm) / max(total, float(self.global_clipnorm))
            return [None if g is None else g * scale for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars):
        """Keras spelling: a list of ``(gradient, variable)`` pairs."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads, variables):
        """One optimizer step: clip, update every variable, count the iteration."""
        from kzoo.engine.trainers import get_trainer
        trainer = get_trainer()
        if not self.built:
            self.build(variables)
        grads = self._clip(list(grads))
        if any(g is None for g in grads):  # only the variables that got a gradient
            kept = [i for i, g in enumerate(grads) if g is not None]
            variables = [variables[i] for i in kept]
            grads = [grads[i] for i in kept]
        rows, slots = self._rows_and_slots(variables)
        step = int(self.iterations) + 1
        self._before_step(step)
        if rows:
            with trainer.no_grad():
                self.update(trainer.foreach, grads, list(variables), slots,
                            self.current_learning_rate(), step)
        self.iterations.set_value(step)

    def _rows_and_slots(self, variables):
        """Each variable's index in the built list and its slots, remembered for the last
        list of variables seen (a training step passes the same list each time)."""
        cached = getattr(self, '_rows_cache', None)
        if cached is not None and cached[0] is self._variables and len(cached[1]) == len(
                variables) and all(a is b for a, b in zip(cached[1], variables)):
            return cached[2], cached[3]
        index = {id(v): i for i, v in enumerate(self._variables)}
        rows = []
        for v in variables:
            i = index.get(id(v))
            if i is None:
                raise ConfigError('optimizer %s was built for other variables; %r is '
                                  'new to it' % (self.name, getattr(v, 'name', v)))
            rows.append(i)
        slots = {kind: [self._slots[kind][i] for i in rows] for kind in self._slots}
        self._rows_cache = (self._variables, tuple(variables), rows, slots)
        return rows, slots

    def _before_step(self, step):
        pass

    def update(self, F, grads, variables, slots, lr, step):
        """Update all ``variables`` (lists aligned with ``grads`` and each slot list)
        with the list-wise math of ``F`` (:class:`kzoo.engine.trainers.foreach.Foreach`)."""
        raise NotImplementedError

    # ---- config ---------------------------------------------------------------------

    def get_config(self):
        """tf.keras 2 style: ``name``, ``learning_rate``, the optimizer's own fields;
        ``decay`` and clipping only when set (Keras 3 warns about a ``decay`` key)."""
        # The shortest decimal that is this float32 (0.01, not 0.009999999776...).
        lr = float(str(np.float32(self.learning_rate.get_value())))
        config = {'name': self.name, 'learning_rate': lr}
        if self.initial_decay:
            config['decay'] = self.initial_decay
        for key in ('clipnorm', 'clipvalue', 'global_clipnorm'):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        for field in self.config_fields:
            config[field] = getattr(self, field)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def _plain_name(name):
    if not isinstance(name, str):
        return None
    return name[:-2] if name.endswith(':0') else name


def _clip_by_norm(g, clipnorm):
    # Keras 3: each gradient is clipped by its own L2 norm.
    norm = K.sqrt(K.sum(K.square(g)))
    return g * clipnorm / K.maximum(norm, clipnorm)


@OPTIMIZERS.register('sgd')
class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0., nesterov=False, decay=0.)``."""
    config_fields = ('momentum', 'nesterov')

    def __init__(self, learning_rate=0.01, momentum=0., nesterov=False, **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def slot_names_for_config(self):
        return ('momentum',) if self.momentum else ()

    def update(self, F, g, v, slots, lr, step):
        if not self.momentum:
            F.update_add(v, g, -lr)
            return
        m = slots['momentum']
        F.update_mul(m, self.momentum)  # m = momentum * m - lr * g
        F.update_add(m, g, -lr)
        if self.nesterov:
            F.update_add(v, F.sub(F.mul(m, self.momentum), F.mul(g, lr)))
        else:
            F.update_add(v, m)


@OPTIMIZERS.register('rmsprop')
class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0., epsilon=1e-7, centered=False)``
    (epsilon inside the square root, as Keras 3)."""
    config_fields = ('rho', 'momentum', 'epsilon', 'centered')

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0., epsilon=1e-7,
                 centered=False, **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum = float(rho), float(momentum)
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)
        self.centered = bool(centered)

    def slot_names_for_config(self):
        return (('velocity',) + (('momentum',) if self.momentum > 0 else ())
                + (('average_gradient',) if self.centered else ()))

    def update(self, F, g, v, slots, lr, step):
        vel = slots['velocity']
        F.update_lerp(vel, F.square(g), 1. - self.rho)
        if self.centered:
            avg = slots['average_gradient']
            F.update_lerp(avg, g, 1. - self.rho)
            denominator = F.add(F.sub(vel, F.square(avg)), self.epsilon)
        else:
            denominator = F.add(vel, self.epsilon)
        increment = F.div(F.mul(g, lr), F.sqrt(denominator))
        if self.momentum > 0:
            mom = slots['momentum']
            F.assign(mom, F.add(F.mul(mom, self.momentum), increment))
            F.assign(v, F.sub(v, mom))
        else:
            F.assign(v, F.sub(v, increment))


@OPTIMIZERS.register('adagrad')
class Adagrad(Optimizer):
    """``Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)``."""
    config_fields = ('initial_accumulator_value', 'epsilon')
    slot_names = ('accumulator',)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)

    def initial_slot_value(self, kind):
        return self.initial_accumulator_value

    def update(self, F, g, v, slots, lr, step):
        acc = slots['accumulator']
        F.update_addcmul(acc, g, g)
        F.update_addcdiv(v, g, F.sqrt(F.add(acc, self.epsilon)), -lr)


@OPTIMIZERS.register('adadelta')
class Adadelta(Optimizer):
    """``Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)``."""
    config_fields = ('rho', 'epsilon')
    slot_names = ('accumulated_grad', 'accumulated_delta_var')

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)

    def update(self, F, g, v, slots, lr, step):
        acc_g, acc_d = slots['accumulated_grad'], slots['accumulated_delta_var']
        F.assign(acc_g, F.add(F.mul(acc_g, self.rho), F.mul(F.square(g), 1. - self.rho)))
        delta = F.neg(F.div(F.mul(F.sqrt(F.add(acc_d, self.epsilon)), g),
                            F.sqrt(F.add(acc_g, self.epsilon))))
        F.assign(acc_d, F.add(F.mul(acc_d, self.rho), F.mul(F.square(delta), 1. - self.rho)))
        F.assign(v, F.add(v, F.mul(delta, lr)))


@OPTIMIZERS.register('adam')
class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)``."""
    config_fields = ('beta_1', 'beta_2', 'epsilon', 'amsgrad')

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)
        self.amsgrad = bool(amsgrad)

    def slot_names_for_config(self):
        return ('momentum', 'velocity') + (('velocity_hat',) if self.amsgrad else ())

    def update(self, F, g, v, slots, lr, step):
        alpha = lr * math.sqrt(1. - self.beta_2 ** step) / (1. - self.beta_1 ** step)
        m, vel = slots['momentum'], slots['velocity']
        F.update_lerp(m, g, 1. - self.beta_1)  # m += (g - m) * (1 - beta_1)
        F.update_lerp(vel, F.square(g), 1. - self.beta_2)
        if self.amsgrad:
            vhat = slots['velocity_hat']
            F.assign(vhat, F.maximum(vhat, vel))
            vel = vhat
        F.update_addcdiv(v, m, F.add(F.sqrt(vel), self.epsilon), -alpha)


@OPTIMIZERS.register('adamax')
class Adamax(Optimizer):
    """``Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``."""
    config_fields = ('beta_1', 'beta_2', 'epsilon')
    slot_names = ('momentum', 'norm')

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)

    def update(self, F, g, v, slots, lr, step):
        m, u = slots['momentum'], slots['norm']
        F.update_lerp(m, g, 1. - self.beta_1)
        F.assign(u, F.maximum(F.mul(u, self.beta_2), F.abs(g)))
        F.assign(v, F.sub(v, F.div(F.mul(m, lr), F.mul(F.add(u, self.epsilon),
                                                          1. - self.beta_1 ** step))))


@OPTIMIZERS.register('nadam')
class Nadam(Optimizer):
    """``Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)``.

    The momentum schedule is Keras 3's, ``beta_1 * (1 - 0.5 * 0.96 ** t)``; a Keras 2
    ``schedule_decay`` (0.004 there) gives Keras 2's ``0.96 ** (t * schedule_decay)``.
    """
    config_fields = ('beta_1', 'beta_2', 'epsilon')
    slot_names = ('momentum', 'velocity')

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 schedule_decay=None, **kwargs):
        Optimizer.__init__(self, learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)
        self.schedule_decay = None if schedule_decay is None else float(schedule_decay)
        self.u_product = HostVariable(1., 'momentum_schedule')

    def _extra_weights(self):
        return [self.u_product]

    def _u(self, step):
        exponent = step * self.schedule_decay if self.schedule_decay is not None else step
        return self.beta_1 * (1. - 0.5 * 0.96 ** exponent)

    def _before_step(self, step):
        # Once per step, before the variables: the running product of the schedule.
        self.u_product.set_value(float(self.u_product) * self._u(step))

    def update(self, F, g, v, slots, lr, step):
        u_t, u_t1 = self._u(step), self._u(step + 1)
        u_product_t = float(self.u_product)
        u_product_t1 = u_product_t * u_t1
        m, vel = slots['momentum'], slots['velocity']
        F.update_lerp(m, g, 1. - self.beta_1)
        F.update_lerp(vel, F.square(g), 1. - self.beta_2)
        m_hat = F.add(F.div(F.mul(m, u_t1), 1. - u_product_t1),
                      F.div(F.mul(g, 1. - u_t), 1. - u_product_t))
        v_hat = F.div(vel, 1. - self.beta_2 ** step)
        F.update_addcdiv(v, m_hat, F.add(F.sqrt(v_hat), self.epsilon), -lr)

    def get_config(self):
        config = Optimizer.get_config(self)
        if self.schedule_decay is not None:
            config['schedule_decay'] = self.schedule_decay
        return config


def serialize(optimizer):
    """``{'class_name': 'Adam', 'config': {...}}``."""
    return {'class_name': type(optimizer).__name__, 'config': optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """An optimizer from its serialized form (class names resolved by the registry)."""
    return deserialize_object(config, OPTIMIZERS, custom_objects, where='optimizer')


def get(identifier, custom_objects=None):
    """An optimizer from a name (``'adam'``), a config dict, or an optimizer object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier, custom_objects)
    raise ConfigError('could not interpret optimizer %r: expected a name such as "adam", a '
                      '{"class_name", "config"} dict or an Optimizer' % (identifier,))


# tf.keras 2.11+ wrote new-style optimizers into .h5 training configs as 'Custom>Adam'.
for _cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam):
    OPTIMIZERS.add('Custom>' + _cls.__name__, _cls)

# Keras 1/2 lowercase names for the classes.
sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = (
    SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)
