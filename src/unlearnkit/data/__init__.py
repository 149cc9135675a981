"""Data stage: datasets, forget selectors and validated splits."""

from unlearnkit.data.dataset import ClassificationData, DatasetMeta
from unlearnkit.data.registry import DATASETS, SELECTORS
from unlearnkit.data.selectors import ForgetSelection, ForgetSelector
from unlearnkit.data.splits import Split
from unlearnkit.data.splitting import SplitSpec

__all__ = [
    "DATASETS",
    "SELECTORS",
    "ClassificationData",
    "DatasetMeta",
    "ForgetSelection",
    "ForgetSelector",
    "Split",
    "SplitSpec",
]
