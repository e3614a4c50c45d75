"""Download settings: the tunable defaults and what the environment overrides.

Every value is read when a download starts (:class:`Settings`), never at import, so
a test or a long-running process can change the environment or assign a default
here (``settings.MAX_REDIRECTS = 3``) and the next ``get_file`` call obeys it.

=========================  ====================================================
``KZOO_OFFLINE=1``         only the cache; a miss raises OfflineError
``KZOO_MIRROR=<base>``     try ``<base>/<fname>`` before the origin
``KZOO_QUIET=1``           no progress bar
``KZOO_TIMEOUT``           read timeout in seconds (also caps the connect timeout)
``KZOO_CONNECT_TIMEOUT``   connect timeout in seconds
``KZOO_RETRIES``           retries per URL after a failed attempt
``KZOO_BACKOFF``           first backoff delay in seconds (doubles each retry)
=========================  ====================================================

(``KZOO_HOME``, the cache root, belongs to :mod:`kzoo.utils.download.cache`.)

>>> import os
>>> os.environ['KZOO_TIMEOUT'] = '5'
>>> s = Settings()
>>> s.read_timeout, s.connect_timeout
(5.0, 5.0)
>>> del os.environ['KZOO_TIMEOUT']
"""
import os
import random

__all__ = ['Settings', 'truthy', 'TUNABLES']

# Defaults; each can be overridden per process by the environment variable named
# above, and tests may lower them by assignment (here or on kzoo.utils.data_utils).
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0
MAX_RETRIES = 5
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 60.0
MAX_REDIRECTS = 10
LOCK_TIMEOUT = 6 * 3600.0  # a waiter gives up only if one download takes longer
CHUNK_SIZE = 1 << 20  # bytes per read and per hash update

# The names above, for kzoo.utils.data_utils, which forwards reads and assignments.
TUNABLES = ('CONNECT_TIMEOUT', 'READ_TIMEOUT', 'MAX_RETRIES', 'BACKOFF_BASE', 'BACKOFF_MAX',
            'RETRY_AFTER_MAX', 'MAX_REDIRECTS', 'LOCK_TIMEOUT', 'CHUNK_SIZE')


class Settings:
    """The settings of one ``get_file`` call: environment first, then the defaults."""

    def __init__(self):
        env = os.environ
        self.read_timeout = float(env.get('KZOO_TIMEOUT') or READ_TIMEOUT)
        self.connect_timeout = float(env.get('KZOO_CONNECT_TIMEOUT')
                                     or min(CONNECT_TIMEOUT, self.read_timeout))
        self.retries = int(env.get('KZOO_RETRIES') or MAX_RETRIES)
        self.backoff = float(env.get('KZOO_BACKOFF') or BACKOFF_BASE)
        self.quiet = truthy(env.get('KZOO_QUIET'))
        self.offline = truthy(env.get('KZOO_OFFLINE'))
        self.mirror = env.get('KZOO_MIRROR') or None

    def delay(self, attempt, retry_after=None):
        """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_MAX)
        base = min(self.backoff * 2 ** (attempt - 1), BACKOFF_MAX)
        return base * (1 + 0.25 * random.random())  # jitter: waiters don't stampede


def truthy(value):
    """'1', 'yes', 'true', 'on' are true; '', '0', 'false', 'no', 'off' are not.

    >>> truthy('1'), truthy('off'), truthy(None)
    (True, False, False)
    """
    return str(value or '').strip().lower() not in ('', '0', 'false', 'no', 'off')
