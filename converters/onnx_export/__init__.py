"""ONNX export: one exporter per kzoo layer class, by family module.

``to_onnx(model, path)`` writes a model and checks it with onnxruntime. Families:
``core`` (Dense, Flatten, Reshape, ...), ``activations``, ``conv``, ``pooling``,
``reshaping`` (padding, cropping, upsampling), ``normalization``, ``embeddings``,
``merge``, ``attention``, ``recurrent``, ``conv_recurrent`` (ConvLSTM), ``wrappers``, and
``walk`` (nested models).
A new layer's exporter goes in its family module, registered with
:func:`~kzoo.converters.onnx_export.registry.exporter`.

Around them: ``graph``/``proto`` (the graph and its encoding, written weight by weight),
``export`` (``to_onnx``, staging, the background writer of ``kzoo convert``), ``check``
(onnxruntime against kzoo), ``check_size`` (when an image model's export may be checked
at a smaller input size), ``written`` (the written file read back field by field) and
``blas`` (numpy's BLAS on one thread for small reference passes).
"""
import importlib

from kzoo.converters.onnx_export.registry import exportable_classes, exporter, find_exporter

_FAMILIES = ('activations', 'core', 'conv', 'pooling', 'reshaping', 'normalization',
             'embeddings', 'merge', 'attention', 'recurrent', 'conv_recurrent', 'wrappers',
             'walk')
_loaded = []


def load_all():
    """Import every family module (each registers its exporters)."""
    if _loaded:
        return
    _loaded.append(True)
    for name in _FAMILIES:
        importlib.import_module('%s.%s' % (__name__, name))


def to_onnx(model, path, **options):
    """Export a kzoo model to ONNX (:func:`kzoo.converters.onnx_export.export.to_onnx`)."""
    from kzoo.converters.onnx_export.export import to_onnx as export
    return export(model, path, **options)

__all__ = ['to_onnx', 'exporter', 'find_exporter', 'exportable_classes', 'load_all']
