"""Explicit id lists (forget sets, split membership): read from files and validated at the boundary.

One set of rules for every place a user hands over ids (the Python call,
``unlearnkit forget --forget-ids``, the id-file selectors and split files of
every kind): integers only, no duplicates, in range, not empty. Each problem
is one message naming the source, what was wrong and examples of it.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from unlearnkit.errors import InvalidParameterError


def _examples(values: np.ndarray) -> str:
    shown = ", ".join(str(v) for v in values[:5].tolist())
    return f"{shown}, ..." if values.size > 5 else shown


def as_id_array(values: Any, where: str) -> np.ndarray:
    """``values`` (a sequence, array or tensor of integers) as a 1-D int64 array; anything else is refused."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)):
        raise InvalidParameterError(f"{where}: expected a sequence of integer ids; got a string {values!r}")
    if isinstance(values, Sequence) and any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, np.integer))]
        raise InvalidParameterError(f"{where}: ids must be integers; got {len(bad)} other value(s), e.g. {bad[:3]!r}")
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidParameterError(f"{where}: ids must be a flat list; got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InvalidParameterError(f"{where}: ids must be integers; got dtype {array.dtype}")
    return array.astype(np.int64)


def check_ids(values: Any, n: int, where: str, *, what: str = "index", allow_empty: bool = False) -> np.ndarray:
    """Validated ids into ``range(n)``: integers, distinct, in range and (unless ``allow_empty``) at least one.

    Returns them sorted. ``what`` names one id in messages ("training index", "user id", ...).
    """
    ids = as_id_array(values, where)
    if ids.size == 0 and not allow_empty:
        raise InvalidParameterError(f"{where}: no ids given; a deletion request names at least one {what}")
    outside = ids[(ids < 0) | (ids >= n)]
    if outside.size:
        raise InvalidParameterError(
            f"{where}: {outside.size} {what}(s) out of range [0, {n}): {_examples(np.unique(outside))}"
        )
    unique, counts = np.unique(ids, return_counts=True)
    duplicated = unique[counts > 1]
    if duplicated.size:
        raise InvalidParameterError(f"{where}: {duplicated.size} {what}(s) listed more than once: {_examples(duplicated)}")
    return unique


def read_id_file(path: str, *, what: str = "index") -> np.ndarray:
    """The ids in ``path``: a ``.npy`` integer array or a text file with one integer per line (blank lines and ``#`` comments ignored).

    Only the format is checked here (a missing file, a non-integer line);
    range, duplicates and emptiness are :func:`check_ids`'s job, because
    only the caller knows ``n``.
    """
    if not os.path.exists(path):
        raise InvalidParameterError(f"id file {path!r} does not exist")
    if not os.path.isfile(path):
        raise InvalidParameterError(f"id file {path!r} is not a regular file")
    if path.endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise InvalidParameterError(f"{path}: not a plain .npy array of integers ({error})") from None
        return as_id_array(array, path)
    ids: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                ids.append(int(text))
            except ValueError:
                raise InvalidParameterError(f"{path}:{number}: expected one integer {what} per line; got {text!r}") from None
    return np.asarray(ids, dtype=np.int64)


def ids_digest(ids: np.ndarray) -> str:
    """SHA-256 of the sorted ids as text, one per line (``sha256sum`` of the sorted id file gives the same)."""
    text = "".join(f"{int(i)}\n" for i in np.sort(np.asarray(ids, dtype=np.int64)))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FileBacked(ABC):
    """A component (selector, split) that reads a file: its content hash joins the experiment's setting, so its keys.

    Without it, editing the file and re-running would find the earlier runs
    "already in the store".
    """

    path: str

    def source_digest(self) -> str:
        """SHA-256 of the file the component reads."""
        return file_digest(self.path)
