"""unlearnkit: machine unlearning for PyTorch models, measured against retraining.

The pipeline, one sub-package per stage: ``data`` (datasets, forget
selectors, splits) -> ``methods`` (unlearning methods, retraining included)
-> ``metrics`` -> ``store`` (SQLite) -> ``report``; ``experiment`` runs
configurations through it and ``cli`` is the command line.
"""

__version__ = "0.1.0"
