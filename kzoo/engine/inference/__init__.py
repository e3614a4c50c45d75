"""Fast inference behind ``Model.predict``: compiled plans, fused kernels, precisions.

``model.predict(x)`` on the torch backend runs an :class:`InferencePlan` compiled once
per model, input shape and thread count: BatchNormalization folded into convolutions,
activations and residual sums fused into oneDNN kernels with weights reordered once
into the layout oneDNN chose for that shape (Dense kernels too, from 2 rows),
zero padding folded into the convolution or max pool that reads it, channels-last
views throughout, tensors freed (or overwritten in place) as soon as
nothing needs them. Results equal the plain layer-by-layer path up to float rounding (tests hold
them to 1e-4). Changing any weight recompiles the plan.

Options (``predict(x, precision=..., provider=...)``, or process-wide defaults with
:func:`configure` or ``$KZOO_INFERENCE``):

- ``precision='float32'`` (default) or ``'bfloat16'`` (opt-in; oneDNN's AVX-512 BF16 /
  AMX kernels; the plan measures its deviation from float32 on the first batch it
  sees: :func:`describe`);
- ``provider='auto'`` (default): the plan above, or, when onnxruntime is installed,
  onnxruntime for a float32 shape of a model of at least a million weights where it
  measured faster on the first batch (the loser's memory is released; a timing decides,
  so the last bits of a large model's results may differ between processes; the first
  batch of a shape takes longer: an export and a few timed runs; see
  :mod:`kzoo.engine.inference.auto`); ``'torch'``: always the plan, whose results depend only
  on the model, batch shape and thread count (two processes agree bit for bit);
  ``'onnxruntime'``: always the model exported with kzoo's own ONNX exporter and run by
  onnxruntime (it keeps a second copy of the weights; its session's graph is rewritten
  where onnxruntime would run it slower: :mod:`~kzoo.engine.inference.ort_graph`);
  ``'plain'``: layer by layer, the reference every other path is tested against.

>>> import numpy as np
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> model = Model(x, Dense(2, kernel_initializer='ones')(x))
>>> model.predict(np.ones((1, 3), 'float32')).tolist()
[[3.0, 3.0]]
>>> [p['steps'] for p in describe(model) if 'steps' in p]  # the plans (auto: its choices)
[{'dense': 1}]
"""
from kzoo.engine.inference.plan import (InferencePlan, clear_plans, get_plan, plans_of,
                                        weights_signature)
from kzoo.engine.inference.runner import configure, describe, predict_batch, settings

__all__ = ['InferencePlan', 'clear_plans', 'configure', 'describe',
           'get_plan', 'plans_of', 'predict_batch', 'settings', 'weights_signature']
