"""kzoo: a Keras-compatible layer engine, pretrained-model zoo and model-format converter.

>>> import numpy as np
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> Model(x, Dense(2)(x)).predict(np.zeros((4, 3))).shape
(4, 2)
"""
import os as _os

__version__ = '0.1.0'

# onnxruntime (imported later, for checks and the 'onnxruntime' provider) otherwise starts
# a telemetry session on import that writes $TMPDIR/.ses and ~/.cache/Microsoft/...: files
# the user never named. A user who sets the variable keeps their choice.
_os.environ.setdefault('ORT_DISABLE_TELEMETRY', '1')
