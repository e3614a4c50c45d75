"""Training hooks for the torch backend: autograd gradients and in-place updates.

Layer weights are ``torch.nn.Parameter`` objects created by ``K.variable``; the
forward pass builds the autograd graph, :func:`value_and_grad` takes gradients with
``torch.autograd.grad`` (nothing accumulates in ``.grad``), and optimizers write the
new values outside the graph, all variables at once through ``torch._foreach_*``
kernels (:data:`foreach`), as ``torch.optim`` does.
"""
import torch

from kzoo.engine.trainers.foreach import Foreach

__all__ = ['value_and_grad', 'assign', 'no_grad', 'foreach']


def value_and_grad(fn, variables):
    """``fn()`` returns ``(loss, aux)``; gives ``(loss, aux, grads)``, one per variable
    (None where the loss does not depend on it)."""
    with torch.enable_grad():
        loss, aux = fn()
        if not variables:
            return loss, aux, []
        if not loss.requires_grad:
            return loss, aux, [None] * len(variables)
        grads = torch.autograd.grad(loss, list(variables), allow_unused=True)
    return loss, aux, list(grads)


def assign(variable, value):
    """Write ``value`` into ``variable`` in place (no autograd history)."""
    with torch.no_grad():
        if isinstance(value, torch.Tensor):
            variable.copy_(value)
        else:
            variable.fill_(value)
    return variable


no_grad = torch.no_grad

_KERNELS = ('add', 'sub', 'mul', 'div', 'neg', 'sqrt', 'abs', 'maximum', 'clamp_min',
            'clamp_max', 'copy_', 'lerp_', 'add_', 'mul_', 'addcmul_', 'addcdiv_')


class TorchForeach(object):
    """:class:`~kzoo.engine.trainers.foreach.Foreach` on ``torch._foreach_*``: one
    kernel call per operation for all variables."""

    def __init__(self):
        for name in ('add', 'sub', 'mul', 'div', 'neg', 'sqrt', 'abs', 'maximum'):
            setattr(self, name, getattr(torch, '_foreach_' + name))

    @staticmethod
    def square(a):
        return torch._foreach_mul(a, a)

    @staticmethod
    def clip(a, low, high):
        return torch._foreach_clamp_max(torch._foreach_clamp_min(a, low), high)

    @staticmethod
    def assign(targets, values):
        torch._foreach_copy_(list(targets), list(values))

    @staticmethod
    def update_lerp(targets, b, weight):
        torch._foreach_lerp_(targets, b, weight)

    @staticmethod
    def update_add(targets, b, alpha=1.):
        torch._foreach_add_(targets, b, alpha=alpha)

    @staticmethod
    def update_mul(targets, scalar):
        torch._foreach_mul_(targets, scalar)

    @staticmethod
    def update_addcmul(targets, b, c, value=1.):
        torch._foreach_addcmul_(targets, b, c, value=value)

    @staticmethod
    def update_addcdiv(targets, b, c, value=1.):
        torch._foreach_addcdiv_(targets, b, c, value=value)


# torch builds without the multi-tensor kernels get the generic Python loop.
foreach = TorchForeach() if all(hasattr(torch, '_foreach_' + n) for n in _KERNELS) \
    else Foreach(assign)
