"""List-wise math for optimizer updates: one call updates every variable.

Optimizers write their update rules once, on lists of tensors (gradients, variables,
slots), with the functions of a ``Foreach`` object that their backend's trainer
provides. :class:`Foreach` here loops over the lists with ``K`` ops (any backend);
the torch trainer maps the same names to ``torch._foreach_*`` kernels, which update
all variables in one call each.

The plain functions are functional (return a new list); ``assign`` and the
``update_*`` functions write into ``targets`` (variables and optimizer slots) in place,
which the torch kernels do without a temporary. The second operand of ``add``/``sub``/
``mul``/``div`` is a list of the same length or a Python number.

>>> import numpy as np
>>> from kzoo import backend as K
>>> F = Foreach(lambda v, x: K.set_value(v, K.to_numpy(x)))
>>> [K.to_numpy(t).tolist() for t in F.mul(F.add([K.constant([1., 2.])], 1.), 2.)]
[[4.0, 6.0]]
"""
from kzoo import backend as K

__all__ = ['Foreach']


def _pairs(a, b):
    return zip(a, b) if isinstance(b, (list, tuple)) else ((x, b) for x in a)


class Foreach(object):
    """The generic implementation: a Python loop of backend ops."""

    def __init__(self, assign):
        self._assign = assign

    def add(self, a, b):
        return [x + y for x, y in _pairs(a, b)]

    def sub(self, a, b):
        return [x - y for x, y in _pairs(a, b)]

    def mul(self, a, b):
        return [x * y for x, y in _pairs(a, b)]

    def div(self, a, b):
        return [x / y for x, y in _pairs(a, b)]

    def neg(self, a):
        return [-x for x in a]

    def sqrt(self, a):
        return [K.sqrt(x) for x in a]

    def square(self, a):
        return [K.square(x) for x in a]

    def abs(self, a):
        return [K.abs(x) for x in a]

    def maximum(self, a, b):
        return [K.maximum(x, y) for x, y in zip(a, b)]

    def clip(self, a, low, high):
        return [K.clip(x, low, high) for x in a]

    def assign(self, targets, values):
        for t, v in zip(targets, values):
            self._assign(t, v)

    # In place: targets = f(targets, ...).
    def update_lerp(self, targets, b, weight):
        """``t + (b - t) * weight`` (an exponential moving average toward ``b``)."""
        self.assign(targets, [t + (x - t) * weight for t, x in zip(targets, b)])

    def update_add(self, targets, b, alpha=1.):
        """``t + alpha * b``."""
        self.assign(targets, [t + x * alpha for t, x in zip(targets, b)])

    def update_mul(self, targets, scalar):
        self.assign(targets, [t * scalar for t in targets])

    def update_addcmul(self, targets, b, c, value=1.):
        """``t + value * b * c``."""
        self.assign(targets, [t + x * y * value for t, x, y in zip(targets, b, c)])

    def update_addcdiv(self, targets, b, c, value=1.):
        """``t + value * b / c``."""
        self.assign(targets, [t + x * value / y for t, x, y in zip(targets, b, c)])
