"""VGG16, ResNet50 and InceptionV3 written by hand in plain torch: the "torch eager"
peers of bench_inference.py, with weights copied from a kzoo model by layer name.

Keras's layouts map onto torch's without tricks: every 'same' convolution in these
graphs has a symmetric padding (odd kernels at stride 1), stride-2 convolutions are
'valid' or explicitly zero-padded, and InceptionV3's 3x3 'same' average pooling
excludes the padding as torch's ``count_include_pad=False`` does. ``channels_last``
runs the same modules on channels-last tensors.

>>> import torch
>>> net = ConvBN(3, 4, 3, padding=1, bn=False)
>>> net(torch.zeros(1, 3, 5, 5)).shape
torch.Size([1, 4, 5, 5])
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBN(nn.Module):
    """Conv2d (+ BatchNorm2d) (+ ReLU), named like the Keras layers it mirrors."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0, bn=True, relu=True, bias=True,
                 eps=1e-3, scale=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias)
        self.bn = nn.BatchNorm2d(cout, eps=eps, affine=True) if bn else None
        self.scale = scale
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


# ---- VGG16 -------------------------------------------------------------------------------

class VGG16(nn.Module):
    def __init__(self, flat_features=512 * 7 * 7, classes=1000):
        super().__init__()
        layers, cin = [], 3
        self.names = []
        for block, (convs, filters) in enumerate(zip((2, 2, 3, 3, 3),
                                                    (64, 128, 256, 512, 512)), 1):
            for i in range(1, convs + 1):
                layers.append(ConvBN(cin, filters, 3, padding=1, bn=False))
                self.names.append('block%d_conv%d' % (block, i))
                cin = filters
            layers.append(nn.MaxPool2d(2, 2))
            self.names.append(None)
        self.features = nn.Sequential(*layers)
        self.fc1, self.fc2 = nn.Linear(flat_features, 4096), nn.Linear(4096, 4096)
        self.predictions = nn.Linear(4096, classes)

    def forward(self, x):
        x = self.features(x)
        x = x.permute(0, 2, 3, 1).flatten(1)  # Keras flattens NHWC
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.softmax(self.predictions(x), dim=1)

    def load_from(self, model):
        for name, layer in zip(self.names, self.features):
            if name:
                _conv(layer.conv, model.get_layer(name))
        for name in ('fc1', 'fc2', 'predictions'):
            _dense(getattr(self, name), model.get_layer(name))
        return self


# ---- ResNet50 ----------------------------------------------------------------------------

class Bottleneck(nn.Module):
    def __init__(self, cin, filters, stride, shortcut, name):
        super().__init__()
        eps = 1.001e-5
        self.name = name
        self.shortcut = ConvBN(cin, 4 * filters, 1, stride, relu=False, eps=eps) \
            if shortcut else None
        self.c1 = ConvBN(cin, filters, 1, stride, eps=eps)
        self.c2 = ConvBN(filters, filters, 3, 1, 1, eps=eps)
        self.c3 = ConvBN(filters, 4 * filters, 1, relu=False, eps=eps)

    def forward(self, x):
        s = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(s + self.c3(self.c2(self.c1(x))))

    def load_from(self, model):
        for part, index in ((self.shortcut, 0), (self.c1, 1), (self.c2, 2), (self.c3, 3)):
            if part is not None:
                _conv_bn(part, model, '%s_%d_conv' % (self.name, index),
                         '%s_%d_bn' % (self.name, index))


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = ConvBN(3, 64, 7, 2, 3, eps=1.001e-5)
        blocks, cin = [], 64
        for stage, (filters, count, stride) in enumerate(
                ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 2):
            for b in range(1, count + 1):
                blocks.append(Bottleneck(cin, filters, stride if b == 1 else 1, b == 1,
                                         'conv%d_block%d' % (stage, b)))
                cin = 4 * filters
        self.blocks = nn.Sequential(*blocks)
        self.predictions = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.stem(x)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # ZeroPadding2D then valid pooling
        x = self.blocks(x)
        return F.softmax(self.predictions(x.mean((2, 3))), dim=1)

    def load_from(self, model):
        _conv_bn(self.stem, model, 'conv1_conv', 'conv1_bn')
        for block in self.blocks:
            block.load_from(model)
        _dense(self.predictions, model.get_layer('predictions'))
        return self


# ---- InceptionV3 -------------------------------------------------------------------------

class InceptionV3(nn.Module):
    """The Keras graph, with kzoo's automatic layer names (``conv2d_N``,
    ``batch_normalization_N`` in creation order) mapped by position."""

    def __init__(self, classes=1000):
        super().__init__()
        self.units = nn.ModuleList()
        self.plan = []
        self.classes = classes
        self.predictions = nn.Linear(2048, classes)

    def unit(self, cin, cout, kh, kw, stride=1, valid=False):
        pad = (0, 0) if valid else (kh // 2, kw // 2)
        u = ConvBN(cin, cout, (kh, kw), stride, pad, bias=False, eps=1e-3)
        self.units.append(u)
        return u

    @classmethod
    def build(cls, classes=1000):
        net = cls(classes)
        u = net.unit
        net.stem = [u(3, 32, 3, 3, 2, True), u(32, 32, 3, 3, valid=True), u(32, 64, 3, 3),
                    'maxpool', u(64, 80, 1, 1, valid=True), u(80, 192, 3, 3, valid=True),
                    'maxpool']
        net.mixed = []
        cin = 192
        for pool in (32, 64, 64):
            b = [[u(cin, 64, 1, 1)], [u(cin, 48, 1, 1), u(48, 64, 5, 5)],
                 [u(cin, 64, 1, 1), u(64, 96, 3, 3), u(96, 96, 3, 3)],
                 ['avgpool', u(cin, pool, 1, 1)]]
            net.mixed.append(b)
            cin = 64 + 64 + 96 + pool
        net.mixed.append([[u(cin, 384, 3, 3, 2, True)],
                          [u(cin, 64, 1, 1), u(64, 96, 3, 3), u(96, 96, 3, 3, 2, True)],
                          ['maxpool']])
        cin = 384 + 96 + cin
        for width in (128, 160, 160, 192):
            b = [[u(cin, 192, 1, 1)],
                 [u(cin, width, 1, 1), u(width, width, 1, 7), u(width, 192, 7, 1)],
                 [u(cin, width, 1, 1), u(width, width, 7, 1), u(width, width, 1, 7),
                  u(width, width, 7, 1), u(width, 192, 1, 7)],
                 ['avgpool', u(cin, 192, 1, 1)]]
            net.mixed.append(b)
            cin = 768
        net.mixed.append([[u(cin, 192, 1, 1), u(192, 320, 3, 3, 2, True)],
                          [u(cin, 192, 1, 1), u(192, 192, 1, 7), u(192, 192, 7, 1),
                           u(192, 192, 3, 3, 2, True)],
                          ['maxpool']])
        cin = 320 + 192 + cin
        for _ in range(2):
            b1 = u(cin, 320, 1, 1)
            b3 = u(cin, 384, 1, 1)
            b3a, b3b = u(384, 384, 1, 3), u(384, 384, 3, 1)
            d1, d2 = u(cin, 448, 1, 1), u(448, 384, 3, 3)
            da, db = u(384, 384, 1, 3), u(384, 384, 3, 1)
            p = u(cin, 192, 1, 1)
            net.mixed.append(('mixed9', b1, b3, b3a, b3b, d1, d2, da, db, p))
            cin = 2048
        return net

    @staticmethod
    def _pool(kind, x):
        if kind == 'maxpool':
            return F.max_pool2d(x, 3, 2)
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)

    def _branch(self, steps, x):
        for s in steps:
            x = self._pool(s, x) if isinstance(s, str) else s(x)
        return x

    def forward(self, x):
        x = self._branch(self.stem, x)
        for block in self.mixed:
            if isinstance(block, tuple):
                _, b1, b3, b3a, b3b, d1, d2, da, db, p = block
                y3, yd = b3(x), d2(d1(x))
                x = torch.cat([b1(x), torch.cat([b3a(y3), b3b(y3)], 1),
                               torch.cat([da(yd), db(yd)], 1), p(self._pool('avgpool', x))], 1)
            else:
                x = torch.cat([self._branch(b, x) for b in block], 1)
        return F.softmax(self.predictions(x.mean((2, 3))), dim=1)

    def load_from(self, model):
        from kzoo.layers import BatchNormalization, Conv2D
        convs = [l for l in model.layers if type(l) is Conv2D]
        bns = [l for l in model.layers if type(l) is BatchNormalization]
        # kzoo's model.layers is in depth order; units were created in Keras's call order,
        # which the automatic names' numbers record.
        key = lambda l: int(l.name.rsplit('_', 1)[1]) if l.name[-1].isdigit() else 0
        convs.sort(key=key)
        bns.sort(key=key)
        for unit, conv, bn in zip(self.units, convs, bns):
            _conv(unit.conv, conv)
            _bn(unit.bn, bn)
        _dense(self.predictions, model.get_layer('predictions'))
        return self


# ---- weights from kzoo ----------------------------------------------------------------------

def _t(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def _conv(conv, layer):
    weights = layer.get_weights()
    conv.weight.data = _t(weights[0].transpose(3, 2, 0, 1))
    if conv.bias is not None:
        conv.bias.data = _t(weights[1])


def _bn(bn, layer):
    named = dict(zip([n.split('/')[-1].split(':')[0] for n in layer.weight_names()],
                     layer.get_weights()))
    channels = named['moving_mean'].shape[0]
    bn.weight.data = _t(named.get('gamma', np.ones(channels, 'float32')))
    bn.bias.data = _t(named.get('beta', np.zeros(channels, 'float32')))
    bn.running_mean.data = _t(named['moving_mean'])
    bn.running_var.data = _t(named['moving_variance'])
    bn.eps = float(layer.epsilon)


def _conv_bn(unit, model, conv_name, bn_name):
    _conv(unit.conv, model.get_layer(conv_name))
    _bn(unit.bn, model.get_layer(bn_name))


def _dense(linear, layer):
    kernel, bias = layer.get_weights()
    linear.weight.data = _t(kernel.T)
    linear.bias.data = _t(bias)


def from_kzoo(name, model):
    """The torch twin of kzoo application ``name`` with ``model``'s weights (eval mode)."""
    classes = model.output_shape[-1]
    if name == 'VGG16':
        flat = model.get_layer('flatten').output_shape[-1]
        net = VGG16(flat, classes)
    elif name == 'ResNet50':
        net = ResNet50(classes)
    else:
        net = InceptionV3.build(classes)
    return net.load_from(model).eval()
