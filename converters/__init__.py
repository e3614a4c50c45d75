

def from_onnx(source, data_format='channels_first', **kwargs):
    """A kzoo ``Model`` from an ONNX file (see :mod:`kzoo.converters.onnx_import`);
    onnx is imported on first use only."""
    from kzoo.converters.onnx_import import from_onnx as _from_onnx
    return _from_onnx(source, data_format=data_format, **kwargs)


def to_onnx(model, path, **options):
    """Export ``model`` to the ONNX file ``path``, checked with onnxruntime
    (:func:`kzoo.converters.onnx_export.export.to_onnx`)."""
    from kzoo.converters.onnx_export.export import to_onnx as _to_onnx
    return _to_onnx(model, path, **options)


def to_torch(model):
    """``model`` as a ``torch.nn.Module`` (:mod:`kzoo.converters.torch_export`)."""
    from kzoo.converters.torch_export import to_torch as _to_torch
    return _to_torch(model)


def to_tensorflow(model):
    """``model`` as a tf_keras model (:mod:`kzoo.converters.tf_export`)."""
    from kzoo.converters.tf_export import to_tensorflow as _to_tensorflow
    return _to_tensorflow(model)


# ``convert`` is both a module and the function it defines; the function wins here.
from kzoo.converters.convert import convert  # noqa: E402

# The layers of imported ONNX graphs (OnnxPool, ...) register themselves here, so a
# saved import reloads in a fresh process (this imports kzoo modules only, not onnx).
from kzoo.converters import onnx_import as _onnx_import  # noqa: E402,F401
