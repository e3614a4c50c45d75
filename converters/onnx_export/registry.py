"""The exporter registry: one function per kzoo layer class.

An exporter is ``fn(ctx, call) -> [Value, ...]``: it adds the ONNX nodes computing one
call of a layer and returns its outputs (:class:`~kzoo.converters.onnx_export.context.Value`).
Classes are matched exactly, never through a base class, so a user's subclass that
overrides ``call`` is refused by name instead of exported as its parent. Exporters that
understand masks say so (``masks=True``); a mask reaching any other layer that reads
masks is refused rather than dropped.

>>> from kzoo.engine.base_layer import Layer
>>> class Twice(Layer):
...     pass
>>> @exporter(Twice)
... def twice(ctx, call):
...     return call.inputs
>>> find_exporter(Twice()).fn is twice
True
"""
import collections

from kzoo.errors import ConversionError

Exporter = collections.namedtuple('Exporter', 'fn masks')

EXPORTERS = {}


def exporter(*classes, **options):
    """Decorator: ``fn`` exports every layer class in ``classes``; a class registered
    twice is an error."""
    masks = bool(options.pop('masks', False))
    if options:
        raise TypeError('exporter(): unknown options %s' % sorted(options))

    def register(fn):
        for cls in classes:
            if cls in EXPORTERS:
                raise ValueError('an ONNX exporter for %s is registered twice (%s and %s)'
                                 % (cls.__name__, EXPORTERS[cls].fn.__name__, fn.__name__))
            EXPORTERS[cls] = Exporter(fn, masks)
        return fn
    return register


def find_exporter(layer):
    """The exporter of ``type(layer)``; a clear error when there is none."""
    from kzoo.converters.onnx_export import load_all
    load_all()
    found = EXPORTERS.get(type(layer))
    if found is None:
        raise ConversionError(
            'cannot export layer %r (class %s) to ONNX: kzoo has no ONNX exporter for %s'
            % (layer.name, type(layer).__name__, type(layer).__name__))
    return found


def exportable_classes():
    from kzoo.converters.onnx_export import load_all
    load_all()
    return sorted(EXPORTERS, key=lambda c: c.__name__)
