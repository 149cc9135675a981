"""unlearnkit: machine unlearning for PyTorch models, measured against retraining.

The pipeline, one sub-package per stage: ``data`` (datasets, forget
selectors, splits) -> ``methods`` (unlearning methods, retraining included)
-> ``metrics`` -> ``store`` (SQLite) -> ``report``; ``experiment`` runs
configurations through it and ``cli`` is the command line.

``unlearnkit.unlearn(model, train_data, forget_ids, method=...)`` answers a
deletion request on a model of your own (see :mod:`unlearnkit.api`). It is
imported on first use, so ``import unlearnkit`` stays as cheap as this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unlearnkit.version import __version__

if TYPE_CHECKING:
    from unlearnkit.api import DeletionResult, unlearn

__all__ = ["DeletionResult", "__version__", "unlearn"]


def __getattr__(name: str) -> Any:
    # PEP 562: the public API (torch, the kinds, every method) loads only when asked for.
    if name in ("unlearn", "DeletionResult"):
        from unlearnkit import api

        return getattr(api, name)
    raise AttributeError(f"module 'unlearnkit' has no attribute {name!r}")
