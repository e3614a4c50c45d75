"""``OnnxRecurrent``: ONNX's ``LSTM``, ``GRU`` and ``RNN`` operators in full.

The importer maps these operators onto kzoo's ``LSTM``/``GRU``/``SimpleRNN`` layers
when the weights are constants and Keras's equations cover the attributes. This
layer handles the rest: weights computed by the graph, peepholes, ``clip``,
``input_forget``, per-sample ``sequence_lens``, activations Keras cannot pair, and
``layout=1``. Outputs are ``Y`` (seq, directions, batch, hidden), ``Y_h`` and, for
LSTM, ``Y_c``.
"""
import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError

from . import tensor_ops as T
from .layers import OnnxLayer
from .math_layers import UNARY

DEFAULT_ACTIVATIONS = {'LSTM': ['Sigmoid', 'Tanh', 'Tanh'], 'GRU': ['Sigmoid', 'Tanh'],
                       'RNN': ['Tanh']}
GATES = {'LSTM': 4, 'GRU': 3, 'RNN': 1}


@register_layer()
class OnnxRecurrent(OnnxLayer):
    """One ONNX recurrent operator (operands X, W, R, B, sequence_lens, initial_h,
    initial_c, P; absent ones ``None``)."""
    config_fields = OnnxLayer.config_fields + (
        'kind', 'hidden_size', 'direction', 'activations', 'activation_alpha',
        'activation_beta', 'clip', 'input_forget', 'linear_before_reset', 'layout')

    def __init__(self, kind='LSTM', hidden_size=1, direction='forward', activations=None,
                 activation_alpha=None, activation_beta=None, clip=None, input_forget=0,
                 linear_before_reset=0, layout=0, **kwargs):
        OnnxLayer.__init__(self, **kwargs)
        if kind not in GATES:
            raise ConfigError('%s: kind must be LSTM, GRU or RNN, got %r' % (self.where(), kind))
        if direction not in ('forward', 'reverse', 'bidirectional'):
            raise ConfigError('%s: unknown direction %r' % (self.where(), direction))
        self.kind, self.hidden_size, self.direction = kind, int(hidden_size), direction
        per_direction = len(DEFAULT_ACTIVATIONS[kind])
        directions = 2 if direction == 'bidirectional' else 1
        self.activations = list(activations or DEFAULT_ACTIVATIONS[kind] * directions)
        if len(self.activations) != per_direction * directions:
            raise ConfigError('%s: %s with direction %s needs %d activations, got %s'
                              % (self.where(), kind, direction, per_direction * directions,
                                 self.activations))
        for name in self.activations:
            if name not in UNARY:
                raise ConfigError('%s: unsupported activation %r' % (self.where(), name))
        self.activation_alpha = None if activation_alpha is None else list(activation_alpha)
        self.activation_beta = None if activation_beta is None else list(activation_beta)
        self.clip = None if clip is None else float(clip)
        self.input_forget, self.linear_before_reset = int(input_forget), int(linear_before_reset)
        self.layout = int(layout)

    @property
    def num_directions(self):
        return 2 if self.direction == 'bidirectional' else 1

    def _activation(self, index):
        name = self.activations[index]
        attributes = {}
        # alphas and betas are listed in order for the activations that take them
        takes = [n for n in self.activations if n in ('LeakyRelu', 'ThresholdedRelu', 'Elu',
                                                       'HardSigmoid', 'ScaledTanh', 'Affine')]
        if name in takes:
            position = [i for i, n in enumerate(self.activations) if n in takes].index(index)
            if self.activation_alpha and position < len(self.activation_alpha):
                attributes['alpha'] = self.activation_alpha[position]
            if self.activation_beta and position < len(self.activation_beta):
                attributes['beta'] = self.activation_beta[position]
        fn = UNARY.get(name)
        return lambda x: fn(x, attributes)

    def _gate(self, x):
        if self.clip is not None:
            x = K.clip(x, -self.clip, self.clip)
        return x

    def compute(self, operands):
        x, w, r, b, lens, h0, c0, p = (list(operands) + [None] * 8)[:8]
        if self.layout:
            x = K.permute_dimensions(x, (1, 0, 2))
        steps, batch = int(K.int_shape(x)[0]), int(K.int_shape(x)[1])
        hidden = self.hidden_size
        dtype = T.dtype_of(x)
        lengths = None if lens is None else np.asarray(T.numpy(lens), 'int64')
        if lengths is not None and np.all(lengths >= steps):
            lengths = None
        if h0 is not None and self.layout:
            h0 = K.permute_dimensions(h0, (1, 0, 2))
        if c0 is not None and self.layout:
            c0 = K.permute_dimensions(c0, (1, 0, 2))
        ys, hs, cs = [], [], []
        per_direction = len(DEFAULT_ACTIVATIONS[self.kind])
        for d in range(self.num_directions):
            reverse = self.direction == 'reverse' or d == 1
            acts = [self._activation(d * per_direction + i) for i in range(per_direction)]
            gates = GATES[self.kind] * hidden
            wd, rd = w[d], r[d]
            bw = b[d][:gates] if b is not None else None
            br = b[d][gates:] if b is not None else None
            h = h0[d] if h0 is not None else T.full((batch, hidden), 0, dtype)
            c = c0[d] if c0 is not None else T.full((batch, hidden), 0, dtype)
            pd = p[d] if p is not None else None
            projected = T.matmul(x, K.permute_dimensions(wd, (1, 0)))  # (steps, batch, gates)
            if bw is not None:
                projected = projected + bw
            rt = K.permute_dimensions(rd, (1, 0))
            outputs = [None] * steps
            order = range(steps - 1, -1, -1) if reverse else range(steps)
            for t in order:
                new_h, new_c = self._step(projected[t], h, c, rt, br, pd, acts)
                if lengths is not None:
                    valid = T.tensor((t < lengths).reshape(batch, 1))
                    new_h = K.switch(valid, new_h, h)
                    new_c = K.switch(valid, new_c, c)
                    outputs[t] = K.switch(valid, new_h, 0 * new_h)
                else:
                    outputs[t] = new_h
                h, c = new_h, new_c
            ys.append(K.stack(outputs, axis=0))
            hs.append(h)
            cs.append(c)
        y = K.stack(ys, axis=1)  # (steps, directions, batch, hidden)
        y_h, y_c = K.stack(hs, axis=0), K.stack(cs, axis=0)
        if self.layout:
            y = K.permute_dimensions(y, (2, 0, 1, 3))
            y_h = K.permute_dimensions(y_h, (1, 0, 2))
            y_c = K.permute_dimensions(y_c, (1, 0, 2))
        return [y, y_h, y_c] if self.kind == 'LSTM' else [y, y_h]

    def _step(self, xw, h, c, rt, br, p, acts):
        n = self.hidden_size
        hr = T.matmul(h, rt)
        if br is not None:
            hr = hr + br
        if self.kind == 'RNN':
            return acts[0](self._gate(xw + hr)), c
        if self.kind == 'GRU':
            f, g = acts
            z = f(self._gate(xw[:, :n] + hr[:, :n]))
            reset = f(self._gate(xw[:, n:2 * n] + hr[:, n:2 * n]))
            if self.linear_before_reset:
                candidate = g(self._gate(xw[:, 2 * n:] + reset * hr[:, 2 * n:]))
            else:
                rh = T.matmul(reset * h, rt[:, 2 * n:])
                if br is not None:
                    rh = rh + br[2 * n:]
                candidate = g(self._gate(xw[:, 2 * n:] + rh))
            return (1 - z) * candidate + z * h, c
        f, g, hact = acts
        z = xw + hr
        zi, zo, zf, zc = [z[:, k * n:(k + 1) * n] for k in range(4)]
        if p is not None:
            zi = zi + p[:n] * c
            zf = zf + p[2 * n:] * c
        i = f(self._gate(zi))
        forget = 1 - i if self.input_forget else f(self._gate(zf))
        new_c = forget * c + i * g(self._gate(zc))
        if p is not None:
            zo = zo + p[n:2 * n] * new_c
        o = f(self._gate(zo))
        return o * hact(new_c), new_c

    def infer_shape(self, infos):
        shape = infos[0].shape
        steps, batch = (shape[1], shape[0]) if self.layout else (shape[0], shape[1])
        dirs, hidden = self.num_directions, self.hidden_size
        if self.layout:
            y, state = (batch, steps, dirs, hidden), (batch, dirs, hidden)
        else:
            y, state = (steps, dirs, batch, hidden), (dirs, batch, hidden)
        return [y, state, state] if self.kind == 'LSTM' else [y, state]


__all__ = ['OnnxRecurrent', 'DEFAULT_ACTIVATIONS']
