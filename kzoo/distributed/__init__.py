"""Scale-out work on Ray: batch prediction and bulk conversion.

``predict(model, paths, ...)`` classifies many images, in this process (an iterator of
rows) or on a Ray cluster (a Ray Dataset); ``write_results`` writes either to Parquet
or JSON Lines. ``bulk_convert`` runs a manifest of conversions as Ray tasks or local
processes. Ray is optional (``pip install "kzoo[ray]"``); only the Ray paths need it.
"""
from kzoo.distributed._ray import RayUnavailableError, require_ray
from kzoo.distributed.batch_predict import predict
from kzoo.distributed.bulk_convert import bulk_convert, read_manifest
from kzoo.distributed.results import read_results, write_results

__all__ = ['predict', 'write_results', 'read_results', 'bulk_convert', 'read_manifest',
           'require_ray', 'RayUnavailableError']
