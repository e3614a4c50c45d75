"""``provider='auto'``: the compiled torch plan or onnxruntime, whichever is faster here.

On the first batch of a new input shape the float32 plan runs, and if it takes at
least :data:`MIN_MS` (a large model: smaller ones never repay an export), the model is
exported with kzoo's ONNX exporter into an onnxruntime session; both then run
alternately and the faster (onnxruntime only if at least :data:`MARGIN` faster, since
it keeps a second copy of the weights) serves that shape from then on. The loser's
memory is released: the plan's prepared kernels, or the session once no shape uses it.
Both give the plain path's results to float rounding, so the choice changes speed only.
A weight change recompiles plans and, with them, the choice.
"""
import time

MIN_MS = 20.0
MARGIN = 0.97
ROUNDS = 2


def available():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _best(fn, rounds):
    best = float('inf')
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def predict(model, arrays, run_plan):
    """Outputs for ``arrays``; ``run_plan(plan, arrays)`` runs the torch plan."""
    from kzoo.engine.inference import ort
    from kzoo.engine.inference.plan import clear_plans, get_plan
    plan = get_plan(model, [a.shape for a in arrays], [a.dtype for a in arrays], 'float32')
    if plan.choice is None:
        return _choose(model, plan, arrays, run_plan)
    if plan.choice == 'onnxruntime':
        try:
            return ort.predict(model, arrays)
        except Exception as e:  # noqa: BLE001  (never fail where the plan can run)
            model.__dict__['_onnxruntime_unusable'] = str(e)
            clear_plans(model)
            plan = get_plan(model, [a.shape for a in arrays], [a.dtype for a in arrays])
            plan.choice = 'torch'
    return run_plan(plan, arrays)


def _stateful(model):
    return any(getattr(layer, 'stateful', False) for layer in model.layers)


def _choose(model, plan, arrays, run_plan):
    from kzoo.engine.inference import ort
    # The first run (it includes oneDNN's one-off set-up, so it overestimates) decides
    # whether the model is large enough to compare; a stateful model is never run twice.
    t_torch, results = _best(lambda: run_plan(plan, arrays), 1)
    plan.timings = {'torch_ms': 1e3 * t_torch}
    if (1e3 * t_torch < MIN_MS or '_onnxruntime_unusable' in model.__dict__
            or _stateful(model)):
        plan.choice = 'torch'
        return results
    try:
        session = ort.session_for(model)
        session.run(arrays)
    except Exception as e:  # noqa: BLE001  (a model onnxruntime cannot run stays on torch)
        model.__dict__['_onnxruntime_unusable'] = str(e)
        plan.choice = 'torch'
        return results
    t_ort = float('inf')
    for _ in range(ROUNDS):  # alternate, so a change in machine load hits both alike
        t_ort = min(t_ort, _best(lambda: session.run(arrays), 1)[0])
        t_torch = min(t_torch, _best(lambda: run_plan(plan, arrays), 1)[0])
    plan.timings = {'torch_ms': 1e3 * t_torch, 'onnxruntime_ms': 1e3 * t_ort}
    if t_ort < MARGIN * t_torch:
        plan.choice = 'onnxruntime'
        plan.release()
    else:
        plan.choice = 'torch'
        ort.release_if_unused(model)
    return results
