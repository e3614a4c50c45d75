"""numpy's BLAS on one thread for a while (small reference passes of a check).

OpenBLAS threads wait for work by spinning: on the small matrices of a check at a
reduced input size they cost more than they give, and on a busy machine far more
(ResNet50 at 64x64: 0.08 CPU seconds on one thread, 1.4 on two while other processes
ran). The library is the one numpy loaded, found in ``/proc/self/maps`` and called
through its own ``openblas_set_num_threads`` (plain, ILP64 or scipy-openblas names);
where there is none (another BLAS, another OS) nothing changes.

>>> with one_thread():
...     pass
"""
import contextlib
import ctypes

_PREFIXES = ('openblas', 'scipy_openblas')
_SUFFIXES = ('', '64_', '_64')
_found = []


def _functions():
    """``(get, set)`` of the loaded OpenBLAS's thread count, or None."""
    if _found:
        return _found[0]
    result = None
    try:
        with open('/proc/self/maps') as f:
            paths = sorted({line.split()[-1] for line in f
                            if 'openblas' in line.lower() and '.so' in line})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path, mode=getattr(ctypes, 'RTLD_NOLOAD', 0) | ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, prefix + '_get_num_threads' + suffix, None)
                put = getattr(lib, prefix + '_set_num_threads' + suffix, None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    result = (get, put)
                    break
            if result:
                break
        if result:
            break
    _found.append(result)
    return result


@contextlib.contextmanager
def one_thread():
    """numpy's BLAS limited to one thread inside the block."""
    functions = _functions()
    if functions is None:
        yield
        return
    get, put = functions
    before = get()
    put(1)
    try:
        yield
    finally:
        put(before)
