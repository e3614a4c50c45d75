"""The HTTP (and file://) transfer of one URL into a ``.part`` file.

:class:`Transfer` owns everything between "this URL" and "this part file holds the
complete bytes, and this is their hash":

- requests streaming with connect and read timeouts;
- bounded retries with exponential backoff on connection errors, 429 and 5xx
  (``Retry-After`` honoured up to a cap); attempts that made progress do not use
  up the retry budget, but the total stays bounded;
- ``Range`` resume of a kept part file, in the same call or a later process, with
  the first response's ``ETag``/``Last-Modified`` sent back as ``If-Range`` and its
  length compared, so a file that changed upstream is fetched whole rather than
  glued to an old prefix; a server that ignores ``Range`` (200) gets a full
  download, one that answers with the wrong ``Content-Range`` is not asked for
  ranges again; a resumed download whose hash is wrong is fetched once more whole;
- the redirect policy: only to http(s), bounded, loops refused;
- the progress bar; the bytes themselves move through :mod:`.stream` (received,
  written and hashed in one pass).

Renaming the part file into the cache is the caller's job (:mod:`.get`).

>>> check_scheme('https://example.com/w.h5', 'origin', allow_file=False)
>>> check_scheme('ftp://example.com/w.h5', 'origin', allow_file=True)
Traceback (most recent call last):
...
kzoo.errors.UnsafeInputError: origin 'ftp://example.com/w.h5' uses the scheme 'ftp'; kzoo only follows http/https/file URLs
"""
import datetime
import email.utils
import hashlib
import json
import logging
import os
import re
import sys
import time
import urllib.parse
import urllib.request

from kzoo.errors import DownloadError, HashMismatchError, UnsafeInputError
from kzoo.utils.download import settings as config
from kzoo.utils.download.stream import PartWriter, body_reader
from kzoo.utils.io_utils import atomic_write_json, remove_quietly

__all__ = ['Transfer', 'check_scheme']

log = logging.getLogger('kzoo.download')

RETRY_STATUS = frozenset([408, 425, 429]) | frozenset(range(500, 600))
REDIRECT_STATUS = frozenset([301, 302, 303, 307, 308])


class _Retry(Exception):
    """A transient failure; carries the server's Retry-After, if any."""

    def __init__(self, reason, retry_after=None, progressed=False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.progressed = progressed


class _Restart(Exception):
    """The kept partial file cannot be resumed; start again from byte 0.

    ``distrust_ranges``: the server answered a range with other bytes than asked;
    don't ask it for ranges again during this transfer.
    """

    def __init__(self, distrust_ranges=False):
        super().__init__()
        self.distrust_ranges = distrust_ranges


def check_scheme(url, what, allow_file):
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    allowed = ('http', 'https', 'file') if allow_file else ('http', 'https')
    if scheme not in allowed:
        raise UnsafeInputError('%s %r uses the scheme %r; kzoo only follows %s URLs'
                               % (what, url, scheme or '(none)', '/'.join(allowed)))


class Transfer:
    """Fetch one URL into a ``.part`` file, resuming, hashing, verifying.

    ``run()`` returns (hex digest, algorithm, final URL, size) once the part file
    holds the complete, verified content; the caller renames it into place.
    """

    def __init__(self, url, part, fname, file_hash, algorithm, settings):
        self.url, self.part, self.fname = url, part, fname
        self.file_hash = file_hash
        # Without an expected hash, record a sha256 of what we got (for the index).
        self.algorithm = algorithm or 'sha256'
        self.settings = settings
        self.hasher, self.hashed = None, -1  # hasher over the first `hashed` bytes of part
        self.resumable = True

    def run(self):
        scheme = urllib.parse.urlsplit(self.url).scheme.lower()
        fetch = self._fetch_file_url if scheme == 'file' else self._fetch_http
        fresh_retry_done = False
        while True:
            resumed_from = fetch()
            digest = self.hasher.hexdigest()
            size = os.path.getsize(self.part)
            if self.file_hash is None or digest == self.file_hash:
                return digest, self.algorithm, self.final_url, size
            remove_quietly(self.part)
            remove_quietly(self.part + '.json')
            self.hasher, self.hashed = None, -1
            if resumed_from and not fresh_retry_done:
                # The kept prefix may be what was wrong (a file changed upstream);
                # one clean download settles it.
                log.warning('%s: resumed download has the wrong hash; downloading it '
                            'again from the start', self.fname)
                fresh_retry_done = True
                continue
            err = HashMismatchError(
                '%s downloaded from %s has %s %s, expected %s; the download was discarded '
                'and nothing was cached (the file may have changed upstream, or the '
                'transfer was tampered with)' % (self.fname, self.final_url, self.algorithm,
                                                 digest, self.file_hash))
            err.fname, err.url = self.fname, self.final_url
            err.expected, err.actual, err.algorithm = self.file_hash, digest, self.algorithm
            raise err

    # -- hashing the kept prefix
    def _hasher_for_prefix(self, offset):
        if self.hasher is None or self.hashed != offset:
            self.hasher = hashlib.new(self.algorithm)
            if offset:
                with open(self.part, 'rb') as f:
                    remaining = offset
                    while remaining:
                        chunk = f.read(min(config.CHUNK_SIZE, remaining))
                        if not chunk:
                            raise _Restart()
                        self.hasher.update(chunk)
                        remaining -= len(chunk)
            self.hashed = offset
        return self.hasher

    def _reset_part(self):
        remove_quietly(self.part)
        remove_quietly(self.part + '.json')
        self.hasher, self.hashed = None, -1

    # -- file:// origins
    def _fetch_file_url(self):
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.netloc not in ('', 'localhost'):
            raise DownloadError('%s: file URL %r names another host' % (self.fname, self.url))
        src = urllib.request.url2pathname(parsed.path)
        self._reset_part()
        self.final_url = self.url
        hasher = self._hasher_for_prefix(0)
        try:
            fin = open(src, 'rb', buffering=0)
        except FileNotFoundError as e:
            self._reset_part()
            raise DownloadError('%s: %s does not exist' % (self.fname, src)) from e
        with fin:
            writer = PartWriter(self.part, False, hasher)
            try:
                writer.pump(fin.readinto)
            finally:
                writer.close()
        self.hashed = os.path.getsize(self.part)
        return 0

    # -- http(s)
    def _fetch_http(self):
        """Loop over attempts until the part file is complete; return the offset the
        successful attempt resumed from."""
        import requests  # imported here: kzoo's import must stay fast

        settings = self.settings
        failures = quiet_failures = 0
        session = requests.Session()
        try:
            while True:
                try:
                    return self._attempt(session)
                except _Restart as e:
                    self._reset_part()
                    if e.distrust_ranges:
                        self.resumable = False
                    failures += 1
                    if failures > settings.retries * 4 + 2:
                        raise DownloadError('%s: %s keeps answering range requests '
                                            'inconsistently' % (self.fname, self.url))
                except _Retry as e:
                    failures += 1
                    # Attempts that made progress don't use up the retry budget, but
                    # the total stays bounded so a server that trickles and drops
                    # cannot keep us here forever.
                    quiet_failures = 0 if e.progressed else quiet_failures + 1
                    if quiet_failures > settings.retries or failures > settings.retries * 10:
                        raise DownloadError(
                            'could not download %s from %s: %s (gave up after %d attempts; '
                            'timeouts %.3g s connect / %.3g s read)'
                            % (self.fname, self.url, e, failures, settings.connect_timeout,
                               settings.read_timeout)) from e
                    delay = settings.delay(quiet_failures or 1, e.retry_after)
                    log.info('%s: %s; retrying in %.1f s', self.fname, e, delay)
                    time.sleep(delay)
        finally:
            session.close()

    def _attempt(self, session):
        offset = os.path.getsize(self.part) if os.path.exists(self.part) else 0
        if not self.resumable:
            offset = 0
        saved = _read_json(self.part + '.json') if offset else None
        resp = self._open(session, offset, saved)
        with resp:
            status = resp.status_code
            total = None
            if status == 206 and offset:
                start, end, total = _content_range(resp.headers.get('Content-Range'))
                if start != offset:
                    raise _Restart(distrust_ranges=True)  # not the bytes we asked for
                if saved and saved.get('length') and total and total != saved['length']:
                    raise _Restart()  # another version of the file: start over
                append = True
            elif status == 200 or status == 206:
                if status == 206:  # a 206 we did not ask for: trust only a full range
                    start, end, total = _content_range(resp.headers.get('Content-Range'))
                    if start != 0:
                        raise _Restart(distrust_ranges=True)
                append = False  # 200 to a Range request: the server ignored it
                if total is None:
                    total = _int_or_none(resp.headers.get('Content-Length'))
            elif status == 416 and offset:
                _, _, total = _content_range(resp.headers.get('Content-Range'))
                if total == offset:  # the kept part is already complete
                    self._hasher_for_prefix(offset)
                    return offset
                raise _Restart()
            else:
                raise _status_error(status, resp, self.fname)

            if append:
                hasher = self._hasher_for_prefix(offset)
            else:
                offset = 0
                self.hasher, self.hashed = hashlib.new(self.algorithm), 0
                hasher = self.hasher
                _write_json(self.part + '.json', {
                    'url': self.final_url, 'length': total,
                    'etag': resp.headers.get('ETag'),
                    'last_modified': resp.headers.get('Last-Modified')})
            received = self._stream(resp, hasher, offset, append, total)
            if total is not None and offset + received != total:
                raise _Retry('connection closed after %d of %d bytes' % (offset + received,
                                                                          total),
                             progressed=received > 0)
            return offset if append else 0

    def _open(self, session, offset, saved):
        """GET with our own redirect handling: only http(s), bounded, no loops."""
        import requests

        headers = {'Accept-Encoding': 'identity', 'User-Agent': 'kzoo'}
        if offset:
            headers['Range'] = 'bytes=%d-' % offset
            validator = saved and (saved.get('etag') or saved.get('last_modified'))
            if validator and not validator.startswith('W/'):
                # If the file changed upstream, the server sends all of it (200).
                headers['If-Range'] = validator
        url, seen = self.url, [self.url]
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        for _ in range(config.MAX_REDIRECTS + 1):
            try:
                resp = session.get(url, headers=headers, stream=True, timeout=timeout,
                                   allow_redirects=False)
            except requests.exceptions.SSLError as e:
                raise DownloadError('%s: TLS error talking to %s: %s' % (self.fname, url, e))
            except requests.exceptions.InvalidURL as e:
                raise DownloadError('%s: invalid URL %s: %s' % (self.fname, url, e))
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
                raise _Retry('%s: %s' % (url, _short(e)))
            except requests.exceptions.RequestException as e:
                raise DownloadError('%s: request to %s failed: %s' % (self.fname, url, e))
            if resp.status_code not in REDIRECT_STATUS or 'Location' not in resp.headers:
                self.final_url = url
                return resp
            location = urllib.parse.urljoin(url, resp.headers['Location'])
            resp.close()
            check_scheme(location, 'redirect from %s to' % url, allow_file=False)
            if location in seen:
                raise DownloadError('%s: redirect loop: %s' % (self.fname,
                                                                ' -> '.join(seen + [location])))
            seen.append(location)
            url = location
        raise DownloadError('%s: more than %d redirects from %s'
                            % (self.fname, config.MAX_REDIRECTS, self.url))

    def _stream(self, resp, hasher, offset, append, total):
        """Copy the body to the part file; hash as we go. Returns bytes received."""
        import requests
        import urllib3

        bar = _progress_bar(self.fname, total, offset, self.settings)
        writer = PartWriter(self.part, append, hasher, bar)
        try:
            error = writer.pump(body_reader(resp), (urllib3.exceptions.HTTPError,
                                                    requests.RequestException, OSError))
        finally:
            try:
                writer.close()  # what arrived is a prefix: hashed and kept for resuming
            finally:
                self.hashed = offset + writer.received
                if bar is not None:
                    bar.close()
        if error is not None:
            raise _Retry('transfer from %s broke after %d bytes: %s'
                         % (self.final_url, offset + writer.received, _short(error)),
                         progressed=writer.received > 0) from error
        return writer.received


def _progress_bar(fname, total, initial, settings):
    if settings.quiet or not _isatty(sys.stderr):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit='B', unit_scale=True, unit_divisor=1024,
                desc=fname, file=sys.stderr, leave=True, dynamic_ncols=True)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _status_error(status, resp, fname):
    if status in RETRY_STATUS:
        return _Retry('HTTP %d %s from %s' % (status, resp.reason, resp.url),
                      retry_after=_retry_after(resp.headers.get('Retry-After')))
    return DownloadError('could not download %s: HTTP %d %s from %s'
                         % (fname, status, resp.reason, resp.url))


def _retry_after(value):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


_CONTENT_RANGE = re.compile(r'^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$', re.I)


def _content_range(value):
    """'bytes 10-99/100' -> (10, 99, 100); '*' parts are None; garbage -> restart."""
    m = _CONTENT_RANGE.match(value or '')
    if not m:
        raise _Restart(distrust_ranges=True)
    start, end, total = m.groups()
    return (int(start) if start else None, int(end) if end else None,
            int(total) if total != '*' else None)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _short(exc):
    text = str(exc)
    return text if len(text) < 300 else text[:300] + '...'


def _read_json(path):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, obj):
    try:
        atomic_write_json(path, obj)
    except OSError:
        pass  # only an aid to resuming
