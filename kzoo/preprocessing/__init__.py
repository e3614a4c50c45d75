"""Input preprocessing (``kzoo.preprocessing.image``)."""
