"""How far a reduced-precision plan is from float32, measured on real inputs.

A ``precision='bfloat16'`` plan measures itself once, on the first batch it runs,
against the float32 plan of the same model and shape; :func:`describe
<kzoo.engine.inference.describe>` reports it.

>>> import numpy as np
>>> deviation([np.array([[0.1, 0.9]])], [np.array([[0.1, 0.8]])])['top1_agreement']
1.0
"""
import numpy as np


def deviation(actual, expected):
    """``max_abs``, ``max_scaled`` (max abs / max(1, max|expected|)), ``mean_abs`` and,
    for 2-D outputs, ``top1_agreement`` (rows whose arg-max class agrees)."""
    report = {'max_abs': 0.0, 'max_scaled': 0.0, 'mean_abs': 0.0}
    agree, rows = 0, 0
    for a, e in zip(actual, expected):
        a, e = np.asarray(a, 'float64'), np.asarray(e, 'float64')
        if e.size == 0:
            continue
        diff = np.abs(a - e)
        report['max_abs'] = max(report['max_abs'], float(diff.max()))
        report['max_scaled'] = max(report['max_scaled'],
                                   float(diff.max()) / max(1.0, float(np.abs(e).max())))
        report['mean_abs'] = max(report['mean_abs'], float(diff.mean()))
        if e.ndim == 2 and e.shape[1] > 1:
            agree += int((a.argmax(1) == e.argmax(1)).sum())
            rows += e.shape[0]
    if rows:
        report['top1_agreement'] = agree / rows
    return report


def measure_deviation(model, arrays, results):
    """Deviation of ``results`` from the float32 plan's outputs on ``arrays``."""
    from kzoo.engine.inference.runner import predict_batch
    reference = predict_batch(model, arrays, precision='float32', provider='torch')
    if reference is None:
        return None
    return deviation(results, reference)
