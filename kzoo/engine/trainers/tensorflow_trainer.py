"""Training hooks for the TensorFlow backend: ``tf.GradientTape`` and ``Variable.assign``.

Layer weights are ``tf.Variable`` objects created by ``K.variable``; the forward pass
runs eagerly under a tape that watches the trainable ones.
"""
import contextlib

import tensorflow as tf

from kzoo.engine.trainers.foreach import Foreach

__all__ = ['value_and_grad', 'assign', 'no_grad', 'foreach']


def value_and_grad(fn, variables):
    """``fn()`` returns ``(loss, aux)``; gives ``(loss, aux, grads)``, one per variable
    (None where the loss does not depend on it)."""
    variables = list(variables)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        for v in variables:
            tape.watch(v)
        loss, aux = fn()
    grads = tape.gradient(loss, variables) if variables else []
    # Gathers (Embedding) give IndexedSlices with a row per occurrence: sum them into a
    # dense gradient, so every optimizer sees the same gradient as on torch.
    grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
    return loss, aux, grads


def assign(variable, value):
    """Write ``value`` into ``variable`` in place."""
    variable.assign(tf.cast(value, variable.dtype) if tf.is_tensor(value) else value)
    return variable


@contextlib.contextmanager
def no_grad():
    # Eager TensorFlow records gradients only inside a tape: nothing to switch off.
    yield


foreach = Foreach(assign)
