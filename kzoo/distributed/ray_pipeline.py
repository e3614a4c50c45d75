"""Batch prediction on Ray Data: decode tasks feed a pool of model actors.

The dataset holds one row per group of paths (:func:`pipeline.chunks`). ``map`` runs
:func:`pipeline.decode_group` in Ray tasks; ``map_batches`` hands each group to an
actor of a pool of ``workers``, each of which loaded the model once, at start. The
groups are the ones the one-process path uses, so the numbers are the same when both
run the model with the same number of threads (``threads=``; Ray gives each actor as
many as the CPUs it asks for, rounded up).

Reliability comes from Ray Data: model actors are restarted when their process dies,
and the group a dead actor was working on is run again; its rows are emitted only by
the run that finishes, so each path appears exactly once. Order is kept
(``preserve_order``), so the output file is the same as the one-process path's.
"""
import numpy as np

from kzoo.distributed._ray import cluster_cpus, connect, require_pyarrow
from kzoo.distributed.pipeline import Group, chunks, decode_group, predict_group


def _decode_row(row, plan):
    group = decode_group(list(row['paths']), plan)
    # raw bytes plus shape: plain Arrow binary, no tensor extension types to unify when
    # the last group is shorter or a group lost images
    return {'paths': group.paths, 'errors': group.errors, 'pixels': group.pixels.tobytes(),
            'shape': list(group.pixels.shape)}


class Predictor(object):
    """A Ray Data actor: loads the model once, then classifies one group per call."""

    def __init__(self, spec, plan):
        if plan.threads:
            import torch
            torch.set_num_threads(plan.threads)  # this process is the actor's alone
        self.model = spec.load()
        self.plan = plan

    def __call__(self, batch):
        from kzoo.distributed.results import to_table
        pa = require_pyarrow()
        tables = []
        for paths, errors, pixels, shape in zip(batch['paths'], batch['errors'],
                                                batch['pixels'], batch['shape']):
            shape = tuple(int(s) for s in shape)
            array = np.frombuffer(pixels, dtype='float32').reshape(shape)
            group = Group([str(p) for p in paths], [str(e) for e in errors], array)
            tables.append(to_table(predict_group(self.model, group, self.plan)))
        return pa.concat_tables(tables)


def dataset(spec, plan, paths, address='auto', workers=None, actor_cpus=None):
    """A Ray Dataset of result rows for ``paths`` (lazy: nothing runs until it is read)."""
    ray = connect(address)
    cpus = cluster_cpus(ray)
    workers = int(workers or max(1, int(cpus) // 2))
    if actor_cpus is None:
        # Leave room for the decode tasks: with fewer CPUs than actors + 1, the actors
        # would hold every CPU and the decoding they wait for could never be scheduled.
        actor_cpus = 1.0 if cpus >= workers + 1 else cpus / (workers + 1)
    # Half an actor's share: decoding is lighter than the model, and the two stages must
    # ask for different resources, or Ray Data fuses the decode into the actors, where it
    # would run serially instead of in parallel tasks.
    decode_cpus = actor_cpus / 2
    groups = [{'paths': group} for group in chunks(paths, plan.batch_size)]
    ds = ray.data.from_items(groups, override_num_blocks=max(1, len(groups)))
    ds.context.execution_options.preserve_order = True
    ds = ds.map(_decode_row, fn_kwargs={'plan': plan}, num_cpus=decode_cpus)
    return ds.map_batches(Predictor, fn_constructor_kwargs={'spec': spec, 'plan': plan},
                          batch_size=1, batch_format='numpy',
                          compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=actor_cpus)
