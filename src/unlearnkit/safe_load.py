"""Loading tensors saved with ``torch.save`` without ever unpickling code."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch


def load_tensors(source: str | Path | io.BytesIO) -> Any:
    """``torch.load(weights_only=True)`` on the CPU, without torch's pickle-protocol warning.

    A file that is not plain tensors raises ``pickle.UnpicklingError``; the
    callers turn that into their own one-line error, so torch's warning about
    an unusual pickle protocol (printed before the same failure) would only
    add noise to what the user reads.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        return torch.load(source, map_location="cpu", weights_only=True)
