"""Keras 1 spellings, in one place: argument renames and seed-era signatures.

Layer constructors are wrapped with :func:`keras1_kwargs`, which renames Keras 1
keyword arguments (``output_dim``, ``init``, ``W_regularizer``, ``border_mode``,
``dim_ordering``, ...) to their Keras 2 names before the constructor sees them.

>>> from kzoo.layers import Dense
>>> Dense(output_dim=3, init='zero', bias=False).get_config()['units']
3
"""
import functools
import inspect

from kzoo.errors import ConfigError

# Keras 1 name -> Keras 2 name, for every layer that has the Keras 2 argument.
COMMON_RENAMES = {
    'output_dim': 'units',
    'init': 'kernel_initializer',
    'W_regularizer': 'kernel_regularizer',
    'b_regularizer': 'bias_regularizer',
    'W_constraint': 'kernel_constraint',
    'b_constraint': 'bias_constraint',
    'bias': 'use_bias',
    'nb_filter': 'filters',
    'subsample': 'strides',
    'subsample_length': 'strides',
    'stride': 'strides',
    'border_mode': 'padding',
    'dim_ordering': 'data_format',
    'pool_length': 'pool_size',
    'poolsize': 'pool_size',
    'p': 'rate',
    'sigma': 'stddev',
    'inner_init': 'recurrent_initializer',
    'inner_activation': 'recurrent_activation',
    'U_regularizer': 'recurrent_regularizer',
    'U_constraint': 'recurrent_constraint',
    'dropout_W': 'dropout',
    'dropout_U': 'recurrent_dropout',
    'beta_init': 'beta_initializer',
    'gamma_init': 'gamma_initializer',
    'beta_regularizer': 'beta_regularizer',
    'gamma_regularizer': 'gamma_regularizer',
    'input_dtype': 'dtype',
    'atrous_rate': 'dilation_rate',
}

# Keras 1 arguments that no longer mean anything and are dropped silently.
IGNORED = ('cache_enabled', 'truncate_gradient', 'create_input_layer')

_CONSUME_LESS = {'cpu': 0, 'mem': 1, 'gpu': 2}


def translate_kwargs(kwargs, layer_name, renames=None):
    """Keras 2 keyword arguments from a mix of Keras 1 and Keras 2 ones."""
    table = dict(COMMON_RENAMES)
    table.update(renames or {})
    out = {}
    for key, value in kwargs.items():
        if key in IGNORED:
            continue
        if key == 'consume_less':
            out['implementation'] = _CONSUME_LESS.get(value, 1)
            continue
        if key == 'forget_bias_init':
            out['unit_forget_bias'] = value in ('one', 'ones')
            continue
        new = table.get(key, key)
        if new in out and new != key:
            raise ConfigError('%s: both %r and its Keras 1 spelling %r were given'
                              % (layer_name, new, key))
        out[new] = value
    return out


def keras1_kwargs(renames=None):
    """Decorator for ``__init__``: accept Keras 1 argument names as well."""
    def decorate(init):
        positional = [p.name for p in inspect.signature(init).parameters.values()
                      if p.kind == p.POSITIONAL_OR_KEYWORD][1:]

        @functools.wraps(init)
        def wrapper(self, *args, **kwargs):
            kwargs = translate_kwargs(kwargs, type(self).__name__, renames)
            given_twice = sorted(set(positional[:len(args)]) & set(kwargs))
            if given_twice:  # Dense(3, output_dim=4): a TypeError would not say which
                raise ConfigError('%s: %s given both positionally and as a keyword (or its '
                                  'Keras 1 spelling)' % (type(self).__name__,
                                                         ', '.join(given_twice)))
            return init(self, *args, **kwargs)
        return wrapper
    return decorate
