"""Method stage: unlearning methods behind one contract."""

from unlearnkit.methods.base import UnlearningMethod, UnlearnResult, UnlearnTask
from unlearnkit.methods.registry import METHODS

__all__ = ["METHODS", "UnlearnResult", "UnlearnTask", "UnlearningMethod"]
