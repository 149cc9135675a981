"""The caller's data as the kinds hold it: checked at the boundary, with messages naming the argument.

Classifiers take a ``torch.utils.data.Dataset`` yielding ``(x, y)`` pairs or
a pair of tensors/arrays ``(x, y)``: x of any per-example shape (floating
point; converted to float32), y integer class indices. Recommenders take a
triple of integer arrays ``(user, item, label)`` with 0/1 labels. Everything
is held in memory.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from unlearnkit.errors import InvalidParameterError

TensorPair = tuple[torch.Tensor, torch.Tensor]
Interactions = tuple[np.ndarray, np.ndarray, np.ndarray]


def _tensor(value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise InvalidParameterError(f"{where}: an object array cannot be used; give numbers")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return torch.as_tensor(value)
    raise InvalidParameterError(f"{where}: expected a tensor or a numpy array; got {type(value).__name__}")


def _from_dataset(dataset: Dataset[Any], where: str) -> TensorPair:
    if not isinstance(dataset, Sized):
        raise InvalidParameterError(f"{where}: the Dataset must have a length (define __len__)")
    xs, ys = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidParameterError(f"{where}[{index}]: a Dataset item must be an (x, y) pair; got {type(item).__name__}")
        x, y = _tensor(item[0], f"{where}[{index}] x"), _tensor(item[1], f"{where}[{index}] y")
        if y.numel() != 1:
            raise InvalidParameterError(f"{where}[{index}]: y must be one class index; got shape {tuple(y.shape)}")
        xs.append(x)
        ys.append(y.reshape(()))
    if not xs:
        raise InvalidParameterError(f"{where}: the Dataset is empty")
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise InvalidParameterError(f"{where}: examples have different shapes {sorted(shapes)[:3]}; all must have one shape")
    return torch.stack(xs), torch.stack(ys)


def classification_tensors(data: Any, where: str) -> TensorPair:
    """``(x float32 (N, ...), y int64 (N,))`` from a Dataset or an ``(x, y)`` pair; every problem names ``where``."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise InvalidParameterError(f"{where}: expected a Dataset or a pair (x, y); got a sequence of {len(data)} items")
        x, y = _tensor(data[0], f"{where} x"), _tensor(data[1], f"{where} y")
    elif isinstance(data, Dataset):
        x, y = _from_dataset(data, where)
    else:
        raise InvalidParameterError(f"{where}: expected a torch.utils.data.Dataset or a pair (x, y); got {type(data).__name__}")
    if x.ndim < 2:
        raise InvalidParameterError(f"{where}: x must have shape (N, ...) with a leading example axis; got {tuple(x.shape)}")
    if y.ndim != 1:
        raise InvalidParameterError(f"{where}: y must have shape (N,); got {tuple(y.shape)}")
    if len(x) != len(y):
        raise InvalidParameterError(f"{where}: x has {len(x)} examples but y has {len(y)} labels")
    if len(x) == 0:
        raise InvalidParameterError(f"{where}: no examples")
    if not torch.is_floating_point(x):
        raise InvalidParameterError(f"{where}: x must be floating point (it is converted to float32); got {x.dtype}")
    if torch.is_floating_point(y) or y.dtype == torch.bool or torch.is_complex(y):
        raise InvalidParameterError(f"{where}: y must hold integer class indices; got {y.dtype}")
    if not torch.isfinite(x).all():
        raise InvalidParameterError(f"{where}: x holds {int((~torch.isfinite(x)).sum())} non-finite value(s)")
    if int(y.min()) < 0:
        raise InvalidParameterError(f"{where}: class indices must be >= 0; got {int(y.min())}")
    return x.to(torch.float32).contiguous(), y.to(torch.int64).contiguous()


def interaction_arrays(data: Any, where: str) -> Interactions:
    """``(user, item, label)`` int64 arrays of one length with 0/1 labels; every problem names ``where``."""
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise InvalidParameterError(f"{where}: expected a triple of arrays (user, item, label); got {type(data).__name__}")
    arrays = []
    for name, value in zip(("user", "item", "label"), data, strict=True):
        array = _tensor(value, f"{where} {name}").numpy()
        if array.ndim != 1:
            raise InvalidParameterError(f"{where}: {name} must be 1-D; got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise InvalidParameterError(f"{where}: {name} must hold integers; got {array.dtype}")
        arrays.append(array.astype(np.int64))
    user, item, label = arrays
    if not len(user) == len(item) == len(label):
        raise InvalidParameterError(f"{where}: user, item and label have different lengths ({len(user)}, {len(item)}, {len(label)})")
    if len(user) == 0:
        raise InvalidParameterError(f"{where}: no interactions")
    if not np.isin(label, (0, 1)).all():
        raise InvalidParameterError(f"{where}: labels must be 0 or 1; got {sorted(set(np.unique(label).tolist()) - {0, 1})[:5]}")
    return user, item, label
