

def from_onnx(source, data_format='channels_first', **kwargs):
    """A kzoo ``Model`` from an ONNX file (see :mod:`kzoo.converters.onnx_import`);
    onnx is imported on first use only."""
    from kzoo.converters.onnx_import import from_onnx as _from_onnx
    return _from_onnx(source, data_format=data_format, **kwargs)
