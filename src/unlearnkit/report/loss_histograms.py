"""Loss histograms of one model: forget vs test vs the retrained reference's forget losses.

The DLFD paper's diagnostic: a good untraining method leaves forget losses
distributed like the retrained model's; error-maximising methods push them
far to the right (itself a membership signal), weak ones leave them near 0.

Drawn with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
backend switch), so it is safe inside long-running processes and tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.base import ModelOutputs

# Losses of memorised samples reach 1e-6 and below; a floor keeps log10 finite.
LOSS_FLOOR = 1e-8


def loss_series(outputs: ModelOutputs, reference: ModelOutputs | None) -> dict[str, np.ndarray]:
    """Per-example cross-entropy of the series to draw, by legend label."""
    for name in ("forget", "test"):
        if not outputs.has(name):
            raise InvalidParameterError(f"loss histograms need the model's outputs on the {name!r} split")
    series = {
        "forget": fn.per_example_loss(outputs.logits["forget"], outputs.labels["forget"]),
        "test": fn.per_example_loss(outputs.logits["test"], outputs.labels["test"]),
    }
    if reference is not None:
        if not reference.has("forget"):
            raise InvalidParameterError("the reference's outputs on the 'forget' split are missing")
        series["retrained reference: forget"] = fn.per_example_loss(reference.logits["forget"], reference.labels["forget"])
    return series


def loss_histogram_figure(
    outputs: ModelOutputs,
    *,
    reference: ModelOutputs | None = None,
    title: str = "",
    bins: int = 30,
    log_loss: bool = True,
) -> Figure:
    """Overlaid, density-normalised loss histograms.

    ``log_loss`` puts log10(loss) on the x axis (forget losses of a
    memorised set sit orders of magnitude below test losses). All series
    share one set of bin edges so their shapes are comparable.
    """
    if bins < 1:
        raise InvalidParameterError(f"bins must be a positive int; got {bins!r}")
    series = loss_series(outputs, reference)
    if log_loss:
        series = {label: np.log10(np.maximum(values, LOSS_FLOOR)) for label, values in series.items()}
    edges = np.histogram_bin_edges(np.concatenate(list(series.values())), bins=bins)

    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for label, values in series.items():
        # A list, not the array: matplotlib's stubs type ``bins`` as a sequence (same values either way).
        axes.hist(values, bins=edges.tolist(), density=True, alpha=0.45, label=f"{label} (n={len(values)})")
    axes.set_xlabel("log10 cross-entropy loss" if log_loss else "cross-entropy loss")
    axes.set_ylabel("density")
    axes.legend()
    if title:
        axes.set_title(title, fontsize=9)
    return figure


def plot_loss_histograms(
    outputs: ModelOutputs,
    path: str | Path,
    *,
    reference: ModelOutputs | None = None,
    title: str = "",
    bins: int = 30,
    log_loss: bool = True,
) -> Path:
    """Write :func:`loss_histogram_figure` to a PNG file; returns the path."""
    figure = loss_histogram_figure(outputs, reference=reference, title=title, bins=bins, log_loss=log_loss)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
