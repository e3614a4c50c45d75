"""``InferencePlan``: a model's graph compiled once per input shape for fast predict.

Compiling walks the plan of :class:`~kzoo.engine.network.Container` once, groups ops
that a lowering can fuse (see :mod:`kzoo.engine.inference.lowering`), prepares their
kernels (folded and reordered weights), and decides when each intermediate tensor can
be freed or overwritten. Ops without a lowering run through the layer's own
``_run``, exactly as in the plain path. Running a plan is a flat loop over steps.

A plan is compiled for one thread count as well (:func:`plan_key`). It remembers the
weights it was built from by each variable's identity and torch version counter (bumped
by every in-place write: ``set_weights``, ``load_weights``, optimizer steps), so
:func:`get_plan` notices any change and recompiles.

>>> import numpy as np, torch
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> model = Model(x, Dense(2, activation='relu', kernel_initializer='ones')(x))
>>> plan = get_plan(model, [(1, 3)], [np.dtype('float32')])
>>> plan.run([torch.ones(1, 3)])[0][0].tolist()
[3.0, 3.0]
>>> plan.summary()['steps']
{'dense': 1}
"""
import collections
import threading

import torch

from kzoo.engine.base_layer import to_list, unpack_singleton
from kzoo.engine.inference import lowering as lowering_module
from kzoo.engine.inference.graph import Graph

PRECISIONS = {'float32': torch.float32, 'bfloat16': torch.bfloat16}
MAX_PLANS = 8  # per model (prepared weights are shared between them)
_lock = threading.Lock()


def weights_signature(model):
    """The model's graph (its list of nodes, rebuilt by ``Sequential.add`` or ``pop``) and
    the identity and version of every variable: changes whenever any weight is written
    or the graph is rebuilt (a weightless layer added changes no weight).

    Computed on every batch, so it reads each layer's weight specs directly (in layer
    order, a shared layer's once per use) instead of building ``model.weights``."""
    out = []
    _variable_versions(model.layers, out)
    return (getattr(model, '_plan', None), tuple(out))


_HOW = {}  # layer class -> how its variables are found (see _how)


def _how(kind):
    from kzoo.engine.base_layer import Layer
    from kzoo.engine.network import Container
    if kind._ordered_specs is Layer._ordered_specs:
        return 'own'
    if issubclass(kind, Container) and kind._ordered_specs is Container._ordered_specs:
        return 'nested'  # a model inside the model: its layers' weights
    return 'specs'  # sublayers (RNN cells, wrappers): the layer says which specs it holds


def _variable_versions(layers, out):
    for layer in layers:
        kind = type(layer)
        how = _HOW.get(kind) or _HOW.setdefault(kind, _how(kind))
        if how == 'own':
            for spec, _ in layer._weight_specs:
                v = spec.variable
                out.append(id(v))
                out.append(getattr(v, '_version', 0))
        elif how == 'nested':
            _variable_versions(layer.layers, out)
        else:
            for spec in layer._ordered_specs():
                v = spec.variable
                out.append(id(v))
                out.append(getattr(v, '_version', 0))


class Step(object):
    """A fused kernel (``fn``) or one layer call (``layer``), reading and writing slots.

    A kernel step keeps the ``ops`` it replaces: should a mask reach it (a masking
    layer upstream), those ops run one by one as layer calls, as in the plain path.
    """
    __slots__ = ('fn', 'inputs', 'outputs', 'free', 'layer', 'arguments', 'cast', 'note',
                 'ops')

    def __init__(self, fn, inputs, outputs, layer=None, arguments=None, cast=False, note='',
                 ops=()):
        self.fn, self.inputs, self.outputs = fn, inputs, outputs
        self.layer, self.arguments, self.cast, self.note = layer, arguments, cast, note
        self.ops = ops
        self.free = ()


class _Context(object):
    """What lowerings may ask while a plan is compiled."""

    def __init__(self, graph, dtype, shared=None):
        self.graph = graph
        self.dtype = dtype
        self._shared = shared if shared is not None else {}
        self.used = set()  # keys of the shared weights this plan holds
        self.group_of = {}
        self.fresh = set()
        self._producer = {s: op for op in graph.ops for s in op.outputs}

    def shared(self, key, make):
        """``make()``, or what it made for ``key`` in an earlier plan of the model (with the
        same weights): prepared weights do not depend on the batch size."""
        if key not in self._shared:
            self._shared[key] = make()
        self.used.add(key)
        return self._shared[key]

    def producer(self, slot):
        return self._producer.get(slot)

    def is_grouped(self, op):
        return op.index in self.group_of

    def shape(self, slot):
        return self.graph.shapes[slot]

    def position(self, op):
        """Where ``op`` runs: at the last op of its group."""
        group = self.group_of.get(op.index)
        return group.ops[-1].index if group is not None else op.index

    def may_overwrite(self, slot, op):
        """True when the kernel running at ``op`` may write into ``slot``'s tensor: the
        plan allocated it, it is no model output, and every reader is a fused kernel
        (never a layer that might keep a view of it) running no later than ``op``."""
        if slot not in self.fresh or slot in self.graph.output_slots:
            return False
        here = self.position(op)
        readers = self.graph.readers[slot]
        return all(r.index in self.group_of and self.position(r) <= here for r in readers)


class InferencePlan(object):
    """Steps computing ``model``'s outputs for inputs of one shape and dtype."""

    def __init__(self, model, shapes, dtypes, precision='float32'):
        self.precision = precision  # (no reference back to the model: no cycle to collect)
        self.dtype = PRECISIONS[precision]
        self.shapes = tuple(tuple(s) for s in shapes)
        self.signature = weights_signature(model)
        self.deviation = None  # set for reduced precisions (kzoo.engine.inference.precision)
        graph = Graph(model, self.shapes)
        ctx = _Context(graph, self.dtype, _shared_weights(model, self.signature))
        with torch.no_grad():
            self.steps = self._compile(graph, ctx)
        self.shared_keys = frozenset(ctx.used)
        self.input_slots = graph.input_slots
        self.output_slots = graph.output_slots
        self.n_slots = graph.n_slots
        self._set_frees()

    def _compile(self, graph, ctx):
        for op in graph.ops:  # first pass: claim fusable chains
            if ctx.is_grouped(op):
                continue
            fn = lowering_module.find_lowering(op.layer)
            group = fn(ctx, op) if fn is not None else None
            if group is not None:
                for member in group.ops:
                    ctx.group_of[member.index] = group
        steps = []
        for op in graph.ops:  # second pass: kernels at each group's last op, in order
            group = ctx.group_of.get(op.index)
            if group is None:
                steps.append(self._layer_step(op))
            elif op is group.ops[-1]:
                steps.append(Step(group.build(ctx), list(group.inputs), [group.output],
                                  note=group.note,
                                  ops=[self._layer_step(o) for o in group.ops]))
                if group.fresh:
                    ctx.fresh.add(group.output)
        return steps

    def _layer_step(self, op):
        layer = op.layer
        cast = self.dtype != torch.float32 and bool(layer.weights)
        return Step(None, list(op.inputs), list(op.outputs), layer, op.arguments, cast,
                    type(layer).__name__)

    def _set_frees(self):
        last = {}
        for i, step in enumerate(self.steps):
            for s in step.inputs:
                last[s] = i
        keep = set(self.output_slots)
        frees = collections.defaultdict(list)
        for s, i in last.items():
            if s not in keep:
                frees[i].append(s)
        for i, step in enumerate(self.steps):
            step.free = tuple(frees.get(i, ()))

    def run(self, tensors):
        """Outputs (torch tensors, in the plan's precision) for input ``tensors``."""
        values = [None] * self.n_slots
        masks = {}
        dtype = self.dtype
        for s, t in zip(self.input_slots, tensors):
            reduce = dtype != torch.float32 and t.is_floating_point() and t.dtype != dtype
            values[s] = t.to(dtype) if reduce else t
        for step in self.steps:
            if step.layer is None:
                if masks and any(s in masks for s in step.inputs):
                    for inner in step.ops:  # masked data: the layers themselves
                        self._run_layer(inner, values, masks)
                else:
                    values[step.outputs[0]] = step.fn(*[values[s] for s in step.inputs])
            else:
                self._run_layer(step, values, masks)
            for s in step.free:
                values[s] = None
                masks.pop(s, None)
        return [values[s] for s in self.output_slots]

    def _run_layer(self, step, values, masks):
        xs = [values[s] for s in step.inputs]
        if step.cast:
            xs = [x.float() if torch.is_tensor(x) and x.is_floating_point() else x for x in xs]
        in_masks = [masks.get(s) for s in step.inputs]
        in_masks = None if all(m is None for m in in_masks) else unpack_singleton(in_masks)
        out, out_mask = step.layer._run(unpack_singleton(xs), in_masks, False, step.arguments)
        out = to_list(out)
        out_masks = to_list(out_mask) if out_mask is not None else [None] * len(out)
        for s, value, mask in zip(step.outputs, out, out_masks):
            if step.cast and torch.is_tensor(value) and value.is_floating_point():
                value = value.to(self.dtype)
            values[s] = value
            if mask is not None:
                masks[s] = mask

    def summary(self):
        """Counts of kernels by kind (``conv+bn+relu``, ...) and of layers left as they are."""
        counts = collections.Counter(step.note for step in self.steps)
        return {'precision': self.precision, 'shapes': self.shapes,
                'steps': dict(sorted(counts.items())), 'deviation': self.deviation}


def _shared_weights(model, signature):
    """Prepared weights of ``model``'s plans, shared across batch sizes; forgotten when
    the weights change."""
    entry = model.__dict__.get('_inference_weights')
    if entry is None or entry[0] != signature:
        entry = (signature, {})
        model.__dict__['_inference_weights'] = entry
    return entry[1]


def _plans(model):
    plans = model.__dict__.get('_inference_plans')
    if plans is None:
        plans = collections.OrderedDict()
        model.__dict__['_inference_plans'] = plans
    return plans


def plan_key(shapes, dtypes, precision='float32'):
    """Precision, shapes, dtypes and torch's thread count: oneDNN chooses its weight
    layouts for the thread count too, and a plan run with another one would reorder
    kernels on every call."""
    return (precision, tuple(tuple(int(d) for d in s) for s in shapes),
            tuple(str(d) for d in dtypes), torch.get_num_threads())


def get_plan(model, shapes, dtypes, precision='float32', signature=None):
    """The cached plan for these input shapes/dtypes, compiled (again) when needed.
    ``signature``: :func:`weights_signature` of ``model`` if the caller has it (it walks
    every variable)."""
    key = plan_key(shapes, dtypes, precision)
    signature = weights_signature(model) if signature is None else signature
    with _lock:
        plans = _plans(model)
        plan = plans.get(key)
        if plan is not None and plan.signature != signature:
            plans.clear()  # weights changed: every plan holds stale folded weights
            plan = None
        if plan is not None:
            plans.move_to_end(key)
            return plan
    plan = InferencePlan(model, key[1], dtypes, precision)
    with _lock:
        plans[key] = plan
        while len(plans) > MAX_PLANS:
            plans.popitem(last=False)
            _prune_shared(model, plans)
    return plan


def _prune_shared(model, plans):
    """Forget prepared weights no remaining plan uses (a forgotten batch size's layouts)."""
    entry = model.__dict__.get('_inference_weights')
    if entry is None:
        return
    if not plans:
        model.__dict__.pop('_inference_weights', None)
        return
    used = frozenset().union(*(p.shared_keys for p in plans.values()))
    for key in [k for k in entry[1] if k not in used]:
        del entry[1][key]


def discard_plan(model, key):
    """Forget one plan, and the prepared weights once no plan of ``model`` is left
    (plans of several shapes share them)."""
    with _lock:
        plans = _plans(model)
        plans.pop(key, None)
        _prune_shared(model, plans)


def clear_plans(model):
    """Forget ``model``'s compiled plans (they are rebuilt on the next predict)."""
    model.__dict__.pop('_inference_plans', None)
    model.__dict__.pop('_inference_auto', None)
    model.__dict__.pop('_inference_weights', None)


def plans_of(model):
    return list(_plans(model).values())
