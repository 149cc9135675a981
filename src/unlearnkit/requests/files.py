"""The files of a deletion request: model factory, checkpoints, data arrays; and writing the result safely.

* ``--model-factory module:callable``: imported like ``python -m`` would
  (the current folder first, then installed packages); it must return an
  ``nn.Module``.
* Checkpoints are state dicts: ``.safetensors`` (read with the
  ``safetensors`` package) or a PyTorch file read with
  ``torch.load(weights_only=True)``; anything that is not plain tensors
  (a pickled object, code) is refused and never executed.
* Data: an ``.npz`` with arrays ``x`` (floating point, any per-example
  shape) and ``y`` (integer labels) for a classifier, or ``user``, ``item``,
  ``label`` for a recommender; read with ``allow_pickle=False``.
* The new checkpoint is written to a hidden ``.<name>.<pid>.partial`` file
  next to ``--out``, flushed to disk, and only then renamed to ``--out``
  (``os.replace``: atomic on one file system), so ``--out`` never holds a
  partial checkpoint. A process killed before the rename can leave the
  ``.partial`` file behind; it is never mistaken for a checkpoint.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.safe_load import load_tensors

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """The callable named by ``module:attribute`` (``module`` importable from the current folder or installed packages)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise InvalidParameterError(f"--model-factory: expected 'module:callable' (e.g. my_pkg.models:build); got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does, so a module in the current folder is found
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise InvalidParameterError(f"--model-factory {spec!r}: cannot import {module_name!r} ({error})") from error
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise InvalidParameterError(f"--model-factory {spec!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise InvalidParameterError(f"--model-factory {spec!r}: {attribute!r} is not callable")
    factory: Callable[[], nn.Module] = target
    return factory


def build_model(factory: Callable[[], nn.Module], spec: str) -> nn.Module:
    model = factory()
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"--model-factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_state(path: str) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint file; only plain tensors are accepted (see the module docstring)."""
    if not os.path.isfile(path):
        raise InvalidParameterError(f"--checkpoint {path!r} does not exist")
    if path.endswith(".safetensors"):
        try:
            return dict(load_file(path, device="cpu"))
        except (SafetensorError, OSError) as error:
            raise InvalidParameterError(f"--checkpoint {path}: not a readable safetensors file ({error})") from None
    try:
        state = load_tensors(path)
    except pickle.UnpicklingError:
        raise InvalidParameterError(
            f"--checkpoint {path}: refused: it holds pickled objects other than tensors, which unlearnkit never unpickles "
            "(that could run code); save model.state_dict() with safetensors or torch.save"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        raise InvalidParameterError(f"--checkpoint {path}: not a PyTorch checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise InvalidParameterError(f"--checkpoint {path}: expected a state dict (names -> tensors); got a {type(state).__name__}")
    return state


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: str, spec: str) -> None:
    """Load ``state`` into ``model``, refusing any key or shape that does not match with a message listing them."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = ([f"missing {missing[:5]}"] if missing else []) + ([f"unexpected {unexpected[:5]}"] if unexpected else []) + shapes[:5]
    if problems:
        raise InvalidParameterError(
            f"--checkpoint {path} does not fit the model built by {spec}: " + "; ".join(problems)
        )
    model.load_state_dict(state)
    model.eval()


def read_arrays(path: str, flag: str) -> tuple[np.ndarray, ...]:
    """``(x, y)`` or ``(user, item, label)`` from an ``.npz`` (format only; the request checks the content)."""
    if not os.path.isfile(path):
        raise InvalidParameterError(f"{flag} {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise InvalidParameterError(f"{flag} {path}: not a readable .npz of plain arrays ({error})") from None
    for names in (("x", "y"), ("user", "item", "label")):
        if set(arrays) == set(names):
            return tuple(arrays[name] for name in names)
    raise InvalidParameterError(
        f"{flag} {path}: expected arrays x and y (a classifier) or user, item and label (a recommender); got {sorted(arrays)}"
    )


def check_output_path(out: str, checkpoint: str) -> None:
    """Refuse an ``--out`` that cannot be written or would replace the input or an existing file, before any work."""
    if not out.endswith(CHECKPOINT_SUFFIXES):
        raise InvalidParameterError(f"--out {out!r}: the name must end in one of {', '.join(CHECKPOINT_SUFFIXES)}")
    if os.path.lexists(out):
        if os.path.exists(checkpoint) and os.path.samefile(out, checkpoint):
            raise InvalidParameterError(f"--out {out!r} is the input checkpoint; the input is never modified: choose a new path")
        raise InvalidParameterError(f"--out {out!r} already exists; choose a new path (an earlier request's record may refer to it)")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise InvalidParameterError(f"--out {out!r}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidParameterError(f"--out {out!r}: the folder {folder} is not writable")


def partial_path(out: str) -> str:
    folder, name = os.path.split(os.path.abspath(out))
    return os.path.join(folder, f".{name}.{os.getpid()}.partial")


def write_partial(state: dict[str, torch.Tensor], out: str) -> str:
    """Write ``state`` in ``out``'s format to a hidden temporary file next to it, flushed to disk; returns its path."""
    temporary = partial_path(out)
    plain = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}
    try:
        if out.endswith(".safetensors"):
            save_file(plain, temporary)
        else:
            torch.save(plain, temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
    except OSError as error:
        discard(temporary)
        raise InvalidParameterError(f"--out {out!r}: cannot write the checkpoint ({error.strerror or error})") from None
    except BaseException:
        discard(temporary)
        raise
    return temporary


def publish(temporary: str, out: str) -> None:
    """Give the finished file its final name atomically, and make the rename durable."""
    os.replace(temporary, out)
    folder = os.open(os.path.dirname(os.path.abspath(out)), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def discard(path: str) -> None:
    if os.path.lexists(path):
        os.remove(path)
