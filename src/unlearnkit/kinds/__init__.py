"""Kinds of task (image classification, recommendation, ...): plug-ins to the one experiment skeleton.

Pipeline stages are the sibling packages (``data``, ``models``,
``training``, ``methods``, ``metrics``, ``store``, ``report``); a kind binds
one kind's components of those stages into the skeleton that
:mod:`unlearnkit.experiment` runs. See :mod:`unlearnkit.kinds.base`.
"""

from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.registry import KINDS
from unlearnkit.kinds.schema import Component, ExperimentFields, MethodEntry

__all__ = [
    "KINDS",
    "Component",
    "Evaluated",
    "ExperimentFields",
    "ExperimentKind",
    "MethodEntry",
    "Prepared",
    "ResolvedExperiment",
    "StoredOutputs",
]
