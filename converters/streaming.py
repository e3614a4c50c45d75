"""Reading large Keras HDF5 models with one copy of their weights in memory.

The general loader (:func:`kzoo.converters.hdf5_legacy.load_model`) builds the model
(running every weight initializer) and then reads all the file's arrays before setting
them, so a model briefly costs two or three copies of its weights; for VGG16 (528 MB)
that is over a gigabyte. This loader builds the model without running initializers
(weights start as zeros, which the allocator maps lazily) and reads the file layer by
layer straight into the model's weight arrays, converting only layers whose stored
layout differs (Keras 1 recurrent weights, Theano kernels), so it stays near one copy.
"""
import os

from kzoo.converters import hdf5_legacy


def load_hdf5_model(path, custom_objects=None, safe_mode=True):
    """A kzoo model from a legacy HDF5 whole-model file (same result as
    :func:`kzoo.converters.hdf5_legacy.load_model` with ``compile=False``)."""
    return hdf5_legacy.load_model(os.fspath(path), custom_objects=custom_objects,
                                  compile=False, safe_mode=safe_mode)
