"""Training hooks for the torch backend: autograd gradients and in-place updates.

Layer weights are ``torch.nn.Parameter`` objects created by ``K.variable``; the
forward pass builds the autograd graph, :func:`value_and_grad` takes gradients with
``torch.autograd.grad`` (nothing accumulates in ``.grad``), and optimizers write the
new values with :func:`assign` outside the graph.
"""
import torch

__all__ = ['value_and_grad', 'assign', 'no_grad']


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
