"""kzoo: a Keras-compatible layer engine, pretrained-model zoo and model-format converter.

>>> import numpy as np
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> Model(x, Dense(2)(x)).predict(np.zeros((4, 3))).shape
(4, 2)
"""
__version__ = '0.1.0'
