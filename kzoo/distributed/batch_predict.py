"""``kzoo.distributed.predict``: classify many images, in this process or on Ray."""
from kzoo.distributed.sources import image_paths


def predict(model, paths, top=5, batch_size=32, weights='imagenet', preprocess=None,
            target_size=None, ray=None, workers=None, prefetch=None, threads=None,
            precision=None, provider=None):
    """Top-``top`` classes for every image in ``paths``.

    Args:
        model: an application name (``'ResNet50'``), a model file, or a kzoo ``Model``.
        paths: a list of image paths, or a folder, glob pattern or list file
            (:func:`kzoo.distributed.sources.image_paths`).
        weights: for an application: ``'imagenet'``, ``None`` or a weights file.
        preprocess: ``'caffe'``, ``'tf'``, ``'torch'`` or ``'none'`` (default: the
            application's mode; ``'none'`` for files and models).
        target_size: ``(height, width)`` images are resized to (default: the model's).
        ray: ``None`` runs in this process; ``'auto'``, ``'local'``, ``True`` or a
            cluster address runs on Ray (see :mod:`kzoo.distributed._ray`).
        workers: decode threads here; model actors on Ray.
        threads: the model's intra-op threads (here, or in each actor). The two paths
            give identical rows when this is the same for both; by default this process
            uses torch's setting and an actor as many threads as the CPUs it holds, and
            scores may then differ in their last bits.
        precision, provider: how the model runs (``Model.predict``'s options; the
            provider defaults to ``'torch'``, the compiled plan, which gives the same
            bits in every process, where ``'auto'`` may choose per process).

    Returns:
        without Ray, an iterator of row dicts, in input order; with Ray, a Ray Dataset
        of the same rows (lazy; ``kzoo.distributed.write_results`` writes either).
        Columns: ``path``, ``class_ids``, ``class_names``, ``scores``, ``error`` (the
        reason an image could not be read, else ``None``).

    >>> import numpy as np, os, tempfile
    >>> from PIL import Image
    >>> from kzoo.layers import Input, Flatten, Dense
    >>> from kzoo.models import Model
    >>> d = tempfile.mkdtemp()
    >>> Image.fromarray(np.zeros((8, 8, 3), 'uint8')).save(os.path.join(d, 'a.png'))
    >>> x = Input(shape=(8, 8, 3))
    >>> model = Model(x, Dense(4, activation='softmax')(Flatten()(x)))
    >>> [len(row['class_ids']) for row in predict(model, d, top=2)]
    [2]
    """
    from kzoo.distributed.pipeline import resolve, with_blob
    paths = image_paths(paths)
    spec, plan, loaded = resolve(model, weights=weights, preprocess=preprocess, top=top,
                                 batch_size=batch_size, target_size=target_size,
                                 need_model=ray is None, threads=threads,
                                 precision=precision, provider=provider)
    if ray is None:
        from kzoo.distributed.local import iter_predictions
        return iter_predictions(loaded, paths, plan, workers=workers or 2, prefetch=prefetch)
    from kzoo.distributed.ray_pipeline import dataset
    return dataset(with_blob(spec, loaded), plan, paths, address=ray, workers=workers)
