"""ddcore's built-in plugins: datasets (``datasets.py``, ``data/``), models (``models/``), the
evaluation protocol (``evaluation.py``), the ``real`` synthesizer (``real.py``), the random and
herding baselines (``selectors.py``), ``dd report`` / ``dd show`` / ``dd compare`` / ``dd
new-plugin``, and the training library they share (``training.py``, ``augment.py``,
``classifier.py``, ``images.py``). Each registers through the entry points and hooks a third
party uses (``pyproject.toml``); plugins reach the shared library through ``ddcore``'s exports.
"""
