"""Loaders of the built-in datasets and the ZCA transform (registered in ``../datasets.py``)."""
