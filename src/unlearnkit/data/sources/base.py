from __future__ import annotations

import importlib.util
import os
from abc import ABC, abstractmethod
from typing import ClassVar

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.errors import DataUnavailableError
from unlearnkit.params import Configurable


class DatasetSource(Configurable, ABC):
    """A named dataset; ``load`` returns it in memory."""

    description: ClassVar[str]
    task_kind: ClassVar[str] = "classification"

    @abstractmethod
    def load(self) -> ClassificationData: ...


def package_dir(package: str, install_hint: str) -> str:
    """Directory of an installed package, found without importing it (its imports may be heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(f"the Python package {package!r} is not installed; install it with: {install_hint}")
    return spec.submodule_search_locations[0]


def require_file(path: str, install_hint: str) -> str:
    if not os.path.isfile(path):
        raise DataUnavailableError(f"data file {path} is missing; install it with: {install_hint}")
    return path
