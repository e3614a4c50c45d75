"""Kept for older imports: ``atomic_path`` lives in :mod:`kzoo.utils.io_utils`."""
from kzoo.utils.io_utils import atomic_path  # noqa: F401
