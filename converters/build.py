"""Build a kzoo model from a config of any era, and restore its training config.

Shared by every reader (legacy HDF5, ``.keras``, JSON, YAML): the config is upgraded
(:mod:`~kzoo.converters.config_upgrade`), then deserialized through kzoo's layer
registry only, inside ``safe_mode_scope(safe_mode)`` and a ``CustomObjectScope``.
Anything a hostile config makes a layer constructor raise becomes a kzoo error that
names the file; a ``RecursionError`` never escapes.

>>> cfg = {'class_name': 'Sequential', 'config': [{'class_name': 'Dense',
...        'config': {'name': 'd', 'output_dim': 2, 'input_dim': 3}}]}
>>> build_model(cfg).layers[0].units
2
"""
import warnings

from kzoo.errors import ConfigError, FileFormatError, KzooError
from kzoo.converters.config_upgrade import upgrade_model_config


def build_model(config, major=None, report=None, custom_objects=None, safe_mode=True,
                label='model config', require_model=True, weights_budget=None):
    """A kzoo model from ``{'class_name': ..., 'config': ...}`` of any Keras era.

    ``weights_budget``: the most bytes the model's weights may take (loaders of files
    that hold the weights pass what the file can hold; see
    :func:`kzoo.engine.base_layer.weights_budget`).
    """
    import contextlib
    from kzoo.engine.base_layer import weights_budget as budget_scope
    from kzoo.engine.network import Container, deserialize_layer
    from kzoo.utils.generic_utils import CustomObjectScope
    from kzoo.utils.safe_mode import safe_mode_scope
    import kzoo.layers  # noqa: F401  (registers every layer class)
    import kzoo.models  # noqa: F401  (registers Sequential and Model)
    custom_objects = dict(custom_objects or {})
    try:
        config = upgrade_model_config(config, major, report, custom_objects, label)
        budget = contextlib.nullcontext() if weights_budget is None else \
            budget_scope(weights_budget, label)
        with safe_mode_scope(safe_mode), CustomObjectScope(custom_objects), budget:
            model = deserialize_layer(config, custom_objects)
    except KzooError as e:
        if label in str(e):
            raise
        raise type(e)('%s: %s' % (label, e)) from e
    except RecursionError:
        raise ConfigError('%s is nested too deeply to build' % label) from None
    except Exception as e:  # a layer constructor given hostile values
        raise ConfigError('%s: cannot build the model: %s: %s'
                          % (label, type(e).__name__, e)) from e
    if require_model and not isinstance(model, Container) \
            and config.get('class_name') not in custom_objects:
        raise FileFormatError('%s describes a single %s layer, not a model'
                              % (label, type(model).__name__))
    return model


def compile_args(training_config):
    """Arguments for ``model.compile`` from a stored training config (Keras 2 layout)."""
    optimizer = training_config.get('optimizer_config')
    try:
        from kzoo import optimizers
        if optimizer is not None and hasattr(optimizers, 'deserialize'):
            optimizer = optimizers.deserialize(optimizer)
    except ImportError:
        pass
    args = {'optimizer': optimizer, 'loss': training_config.get('loss'),
            'metrics': training_config.get('metrics'),
            'loss_weights': training_config.get('loss_weights'),
            'sample_weight_mode': training_config.get('sample_weight_mode')}
    if training_config.get('weighted_metrics') is not None:
        args['weighted_metrics'] = training_config['weighted_metrics']
    return args


def restore_training_config(model, training_config, compile=True, report=None, label=''):
    """Keep the training config on the model; compile it when the model can be compiled.

    ``model._training_config`` always holds the parsed config, so that compiling works
    as soon as kzoo's optimizers exist. A config that cannot be honoured leaves the model
    uncompiled with a warning, as Keras does.
    """
    if not isinstance(training_config, dict):
        return
    model._training_config = training_config
    if not compile:
        return
    if not callable(getattr(model, 'compile', None)):
        if report is not None:
            report.note('training config kept (optimizer %s, loss %r); kzoo cannot compile '
                        'models yet' % (_optimizer_name(training_config),
                                        training_config.get('loss')))
        return
    try:
        model.compile(**compile_args(training_config))
    except Exception as e:
        message = '%s: the model was not compiled: %s' % (label, e)
        warnings.warn(message)
        if report is not None:
            report.note(message)


def _optimizer_name(training_config):
    optimizer = training_config.get('optimizer_config')
    if isinstance(optimizer, dict):
        return optimizer.get('class_name')
    return optimizer
