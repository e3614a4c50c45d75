"""Utilities; ``set_random_seed`` is here as in ``keras.utils``."""
from kzoo.backend.random_state import set_random_seed  # noqa: F401
