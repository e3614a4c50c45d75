"""Downloads that never corrupt, never repeat, never hang: ``get_file`` in parts.

One job per module:

=============  ===================================================================
``settings``   tunable defaults and the ``KZOO_*`` environment (timeouts, retries,
               offline, mirror, quiet), read at the start of each call
``hashing``    hash algorithm choice, ``hash_file``/``validate_file``, and the
               background hasher that hashes a stream in the same pass
``transfer``   one URL into a ``.part`` file: requests streaming, retries with
               backoff, ``Range`` resume, the redirect policy, the progress bar
``stream``     the bytes themselves: socket to buffers to file, hashed in the
               same pass by a second thread, flat memory
``cache``      the layout on disk: cache root, stored names keyed by hash,
               sidecar JSON, the inventory ``kzoo cache`` lists and clears
``get``        ``get_file`` itself: cache look-up, lock, mirror then origin,
               verify, rename into place, extract
=============  ===================================================================

Users import from :mod:`kzoo.utils.data_utils` (Keras's module name), which
re-exports the public names of all of these.
"""
