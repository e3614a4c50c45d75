"""Ray, imported on demand: a clear message when it is missing, and one way to connect.

``address`` follows ``kzoo predict --ray``:

- ``'auto'`` (or ``True``): the cluster ``RAY_ADDRESS`` names, else the latest one
  started on this machine with ``ray start``, else a new Ray instance on this machine;
- ``'local'``: always a new Ray instance on this machine;
- anything else is a cluster address: ``ray://HEAD:10001`` (Ray Client, from any
  machine) or ``HEAD:6379`` (from a node of the cluster).

A Ray already initialized in this process (``ray.init(...)`` by the caller) is used
as it is, whatever ``address`` says.
"""
from kzoo.errors import KzooError

INSTALL_HINT = 'pip install "kzoo[ray]"'


class RayUnavailableError(KzooError):
    """Ray (or pyarrow) is needed for the requested work but is not installed."""


def require_ray(what='running on Ray'):
    """``ray`` with Ray Data, or a :class:`RayUnavailableError` that says how to get it."""
    try:
        import ray
        import ray.data  # noqa: F401  (ray without its [data] extra lacks it)
    except ImportError as e:
        raise RayUnavailableError('%s needs Ray with Ray Data, which is not installed (%s); '
                                  'install it with: %s' % (what, e, INSTALL_HINT)) from None
    return ray


def require_pyarrow(what='writing Parquet'):
    try:
        import pyarrow
    except ImportError:
        raise RayUnavailableError('%s needs pyarrow, which is not installed; install it with: '
                                  '%s (or pip install pyarrow)' % (what, INSTALL_HINT)) from None
    return pyarrow


def connect(address='auto'):
    """The ``ray`` module, connected as ``address`` says (see the module docstring)."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if address in (True, None, 'auto', ''):
        target = None  # Ray's own search: RAY_ADDRESS, the latest local cluster, or a new one
    else:
        target = str(address)
    # a Ray started here needs no dashboard; a cluster's own settings are left alone
    options = {'include_dashboard': False} if target in (None, 'local') else {}
    try:
        ray.init(address=target, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise KzooError('cannot connect to the Ray cluster at %s: %s'
                        % (target or 'auto', e)) from e
    return ray


def cluster_cpus(ray):
    return float(ray.cluster_resources().get('CPU', 1.0))


def explain(error):
    """A :class:`KzooError` for an error Ray raised: the last line of the remote traceback
    that names an exception (Ray's own message wraps it in process details)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if 'Error: ' in line or 'Exception: ' in line]
    reason = (named or lines or [type(error).__name__])[-1]
    return KzooError('the Ray run failed (%s): %s' % (type(error).__name__, reason))


def is_ray_error(error):
    return type(error).__module__.startswith('ray.')
