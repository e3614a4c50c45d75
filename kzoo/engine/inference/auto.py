"""``provider='auto'`` (the default): the compiled torch plan or onnxruntime, whichever
is faster here.

On the first batch of a new input shape the float32 plan runs, and if the model has at
least :data:`MIN_PARAMS` weights and that run took at least :data:`MIN_MS` (a large model:
smaller ones never repay an export, and never leave the plan, whatever the machine's
load, so their results are reproducible bit for bit), the model is
exported with kzoo's ONNX exporter into an onnxruntime session; both then run
alternately and the faster (onnxruntime only if at least :data:`MARGIN` faster, since
it keeps a second copy of the weights) serves that shape from then on, starting with
the batch that chose (so every batch of a shape gets the same provider). The loser's
memory is released: the plan (its prepared weights), or the session once no shape uses
it. Both give the plain path's results to float rounding, so the choice changes speed
only. The choice is remembered per shape with the weights it was made for; a weight
change makes the next batch choose again. Other providers are unaffected by it.
"""
import threading
import time

MIN_MS = 20.0
MIN_PARAMS = 1000000
MARGIN = 0.97
ROUNDS = 3  # timed runs of each: two let a busy moment keep VGG16 on a plan 7% slower

_lock = threading.Lock()


def available():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choices(model):
    """``{plan key: {'provider', 'timings', 'signature'}}`` of ``model``."""
    return model.__dict__.setdefault('_inference_auto', {})


def _time(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def predict(model, arrays, run_plan):
    """Outputs for ``arrays``; ``run_plan(plan, arrays)`` runs a torch plan."""
    from kzoo.engine.inference import ort
    from kzoo.engine.inference.plan import get_plan, plan_key, weights_signature
    shapes, dtypes = [a.shape for a in arrays], [a.dtype for a in arrays]
    key = plan_key(shapes, dtypes)
    signature = weights_signature(model)  # once per batch: it walks every variable
    entry = choices(model).get(key)
    if entry is None or entry['signature'] != signature:
        return _choose(model, key, arrays, run_plan, signature)
    if entry['provider'] == 'onnxruntime':
        try:
            return ort.predict(model, arrays, signature=signature)
        except Exception as e:  # noqa: BLE001  (never fail where the plan can run)
            model.__dict__['_onnxruntime_unusable'] = str(e)
            entry['provider'] = 'torch'
    return run_plan(get_plan(model, shapes, dtypes, signature=signature), arrays)


def _size(model):
    return sum(int(v.numel()) if hasattr(v, 'numel') else int(v.size) for v in model.weights)


def _stateful(model):
    return any(getattr(layer, 'stateful', False) for layer in model.layers)


def _choose(model, key, arrays, run_plan, signature):
    from kzoo.engine.inference import ort
    from kzoo.engine.inference.plan import discard_plan, get_plan
    plan = get_plan(model, [a.shape for a in arrays], [a.dtype for a in arrays],
                    signature=signature)
    entry = {'provider': 'torch', 'signature': signature, 'timings': {}}
    # The first run (it includes oneDNN's one-off set-up, so it overestimates) decides
    # whether the model is large enough to compare; a stateful model is never run twice.
    t_torch, results = _time(lambda: run_plan(plan, arrays))
    entry['timings']['torch_ms'] = 1e3 * t_torch
    with _lock:
        choices(model)[key] = entry
    if (1e3 * t_torch < MIN_MS or '_onnxruntime_unusable' in model.__dict__
            or _stateful(model) or _size(model) < MIN_PARAMS):
        return results
    try:
        session = ort.session_for(model, signature)
        session.run(arrays)
    except Exception as e:  # noqa: BLE001  (a model onnxruntime cannot run stays on torch)
        model.__dict__['_onnxruntime_unusable'] = str(e)
        return results
    t_ort = float('inf')
    for _ in range(ROUNDS):  # alternate, so a change in machine load hits both alike
        t, ort_results = _time(lambda: session.run(arrays))
        t_ort = min(t_ort, t)
        t_torch = min(t_torch, _time(lambda: run_plan(plan, arrays))[0])
    entry['timings'] = {'torch_ms': 1e3 * t_torch, 'onnxruntime_ms': 1e3 * t_ort}
    if t_ort < MARGIN * t_torch:
        entry['provider'] = 'onnxruntime'
        discard_plan(model, key)
        return ort_results  # the winner's, as every later batch of this shape will be
    ort.release_if_unused(model)
    return results


def summaries(model):
    return [{'provider': e['provider'], 'shapes': key[1], 'auto': True,
             'timings': dict(e['timings'])} for key, e in choices(model).items()]
