"""Batch prediction in this process: decode threads run ahead of the model.

Decoding (Pillow) and preprocessing (numpy) release the GIL for most of their work,
so ``workers`` threads keep ``prefetch`` groups ready while the model runs on the
current one. Results come out in input order.
"""
import collections
import concurrent.futures

from kzoo.distributed.pipeline import (chunks, decode_group, model_threads, predict_group,
                                       rows)


def iter_predictions(model, paths, plan, workers=2, prefetch=None):
    """Yield one row dict per path, in order (see :data:`pipeline.COLUMNS`)."""
    groups = iter(chunks(paths, plan.batch_size))
    workers = max(1, int(workers or 1))
    prefetch = max(1, int(prefetch or 2 * workers))
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix='kzoo-decode')
    try:
        yield from _run(model, groups, plan, pool, prefetch)
    finally:
        # an abandoned iterator (consumer stopped early) drops the decodes not started
        pool.shutdown(wait=True, cancel_futures=True)


def _run(model, groups, plan, pool, prefetch):
    pending = collections.deque()

    def submit_next():
        group = next(groups, None)
        if group is not None:
            pending.append(pool.submit(decode_group, group, plan))

    for _ in range(prefetch):
        submit_next()
    while pending:
        group = pending.popleft().result()
        submit_next()
        # threads set per call, not while suspended in yield: the caller's code between
        # rows keeps its own torch setting
        with model_threads(plan.threads):
            columns = predict_group(model, group, plan)
        yield from rows(columns)
