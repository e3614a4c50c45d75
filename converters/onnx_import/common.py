"""Helpers shared by the operator handlers (attributes, constants, layouts)."""
import numpy as np

from .importer import Value, cf_to_cl


def const_ints(value):
    """The integers of a constant Value, or ``None`` for a computed one."""
    if value is None or not value.is_const:
        return None
    return [int(v) for v in np.asarray(value.const).ravel()]


def as_cl_constant(array, rank):
    """A constant broadcast against an NCHW tensor of ``rank``, rearranged to broadcast
    against the same tensor stored NHWC."""
    array = np.asarray(array)
    if array.ndim == 0:
        return array
    array = array.reshape((1,) * (rank - array.ndim) + array.shape)
    return np.transpose(array, cf_to_cl(rank))


def flat_permutation(cf_shape):
    """``p`` with ``nhwc_flat[i] == nchw_flat[p[i]]`` for one sample of shape C, H, W..."""
    size = int(np.prod(cf_shape))
    grid = np.arange(size).reshape(cf_shape)
    return np.transpose(grid, list(range(1, len(cf_shape))) + [0]).ravel()


def broadcastable_to_cl(ctx, node, inputs):
    """Whether an element-wise op on ``inputs`` can run NHWC: some input is NHWC, all
    computed inputs are NHWC tensors of the same rank, constants can be rearranged."""
    if not any(v is not None and v.layout == 'cl' for v in inputs):
        return False
    rank = max(v.rank for v in inputs if v is not None and v.layout == 'cl')
    for v in inputs:
        if v is None:
            continue
        if v.is_const:
            if v.const.ndim > rank:
                return False
        elif v.layout != 'cl' or v.rank != rank:
            return False
    return True


def to_cl_operands(ctx, inputs):
    rank = max(v.rank for v in inputs if v is not None and v.layout == 'cl')
    out = []
    for v in inputs:
        if v is not None and v.is_const:
            v = Value(const=as_cl_constant(v.const, rank))
        out.append(v)
    return out


def cl_axis(axis, rank):
    """The NHWC position of NCHW axis ``axis``."""
    axis = axis % rank
    if axis == 0:
        return 0
    return rank - 1 if axis == 1 else axis - 1


def keras_weights(arrays):
    """float32 arrays a kzoo layer can take as weights (torch wants writable memory;
    initializers are read-only views of the file's bytes)."""
    out = []
    for a in arrays:
        a = np.asarray(a, 'float32')
        out.append(a if a.flags.writeable and a.flags.c_contiguous else np.array(a, order='C'))
    return out


def pass_through(ctx, node, inputs):
    """Outputs of an operator that returns its first input unchanged."""
    return [inputs[0]]


__all__ = ['const_ints', 'as_cl_constant', 'flat_permutation', 'broadcastable_to_cl',
           'to_cl_operands', 'cl_axis', 'pass_through', 'keras_weights']
