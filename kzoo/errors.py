"""kzoo's error types.

Every failure kzoo reports on bad input is a :class:`KzooError` (or a subclass), so
callers can catch one type. Messages name the file, layer or field and what was
expected.
"""


class KzooError(Exception):
    """Base class of every error kzoo raises on purpose."""


class ConfigError(KzooError, ValueError):
    """A model or layer configuration is malformed or names something unknown."""


class UnknownObjectError(ConfigError):
    """A config names a class or function that no registry nor custom_objects has."""


class ShapeError(KzooError, ValueError):
    """Arrays or tensors have shapes that do not fit together."""


class FileFormatError(KzooError, ValueError):
    """A file is not what it claims to be, or is malformed or truncated."""


class UnsafeInputError(KzooError):
    """Input was refused because honouring it could run code or escape the named paths."""


class DownloadError(KzooError, OSError):
    """A download failed (network, HTTP status, timeout) after the allowed retries."""


class HashMismatchError(DownloadError):
    """A downloaded or cached file does not have the expected hash."""


class OfflineError(DownloadError):
    """KZOO_OFFLINE is set and the file is not in the cache."""


class BackendError(KzooError):
    """A backend cannot be selected or does not support an operation."""


class ConversionError(KzooError):
    """A model cannot be expressed in the target format, or a converted model disagrees."""
