"""Rewrites of kzoo's ONNX export for its own onnxruntime session (the exported files of
``to_onnx`` are left as they are).

:func:`fold_zero_padding` moves a zero ``Pad`` between a ``Relu`` and a ``MaxPool`` (Keras's
ResNet50: ``ZeroPadding2D`` then ``MaxPooling2D``) into the pool's own ``pads``.
onnxruntime cannot do it itself (a pool pads with -inf, not zeros) and runs the ``Pad``
in plain NCHW between two layout reorders of its blocked (NCHWc) tensors: three passes
over a large tensor. After a ReLU every value is >= 0, and each window keeps at least
one real value (pads smaller than the window), so the maximum is the same.
"""
import numpy as np


def fold_zero_padding(graph):
    """Fold such pads into their pools in ``graph`` (an export's ``OnnxGraph``, before
    it is written); returns how many were folded."""
    producer = {out: n for n in graph.nodes for out in n.outputs}
    readers = {}
    for n in graph.nodes:
        for name in n.inputs:
            readers.setdefault(name, []).append(n)
    outputs = {o[0] for o in graph.outputs}
    replace, drop = {}, set()
    for pad in graph.nodes:
        if pad.op_type != 'Pad' or pad.domain or len(pad.outputs) != 1:
            continue
        source = producer.get(pad.inputs[0])
        users = readers.get(pad.outputs[0], [])
        if (source is None or source.op_type != 'Relu' or source.domain or len(users) != 1
                or pad.outputs[0] in outputs):
            continue
        pool = users[0]
        amounts = _spatial_pads(graph, pad, pool)
        if amounts is None:
            continue
        attributes = dict(pool.attributes)
        attributes['pads'] = [int(a) + int(b) for a, b in zip(
            attributes.get('pads') or [0] * len(amounts), amounts)]
        if any(p >= k for p, k in zip(attributes['pads'],
                                      list(pool.attributes['kernel_shape']) * 2)):
            continue  # a window of padding only would give 0, not -inf: keep the Pad
        replace[id(pool)] = pool._replace(inputs=[pad.inputs[0]] + list(pool.inputs[1:]),
                                          attributes=attributes)
        drop.add(id(pad))
    if not drop:
        return 0
    graph.nodes[:] = [replace.get(id(n), n) for n in graph.nodes if id(n) not in drop]
    graph._node_bytes = None
    used = {name for n in graph.nodes for name in n.inputs}
    for name in [k for k in graph.initializers if k not in used]:
        del graph.initializers[name]  # the pads constants (onnxruntime warns of unused ones)
    graph._small = {k: v for k, v in graph._small.items() if v in graph.initializers}
    return len(drop)


def _spatial_pads(graph, pad, pool):
    """The pool's extra ``pads`` attribute (begins, then ends, spatial axes only) for a
    constant zero ``pad`` of N and C untouched, or None where it cannot fold."""
    attrs = pad.attributes
    if attrs.get('mode', 'constant') not in ('constant', b'constant') or len(pad.inputs) < 2:
        return None
    if len(pad.inputs) > 2 and pad.inputs[2]:  # a fill value (or axes): zero only
        if len(pad.inputs) > 3 or not _is_const(graph, pad.inputs[2], 0):
            return None
    amounts = _const(graph, pad.inputs[1])
    if (pool.op_type != 'MaxPool' or pool.domain or len(pool.outputs) != 1
            or pool.inputs[0] != pad.outputs[0] or amounts is None
            or 'kernel_shape' not in pool.attributes
            or pool.attributes.get('auto_pad', 'NOTSET') not in ('NOTSET', b'NOTSET')):
        return None
    amounts = [int(a) for a in amounts.reshape(-1)]
    rank = len(amounts) // 2
    begins, ends = amounts[:rank], amounts[rank:]
    if (rank != len(pool.attributes['kernel_shape']) + 2 or min(amounts) < 0
            or begins[:2] != [0, 0] or ends[:2] != [0, 0]):
        return None
    return begins[2:] + ends[2:]


def _const(graph, name):
    init = graph.initializers.get(name)
    if init is None or init.step != -1:  # constants only, never a weight
        return None
    return np.asarray(init.producer())


def _is_const(graph, name, value):
    array = _const(graph, name)
    return array is not None and array.size == 1 and float(array.reshape(-1)[0]) == value
