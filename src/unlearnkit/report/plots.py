"""Figures for reports, drawn on ``matplotlib.figure.Figure`` objects (no pyplot global state)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from unlearnkit.report.similar import Measure
from unlearnkit.report.tables import ExperimentTable

REFERENCE_COLOUR = "black"  # not in the default colour cycle, so no method shares it


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def png_data_uri(figure: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(figure_png(figure)).decode()


def utility_vs_forgetting(table: ExperimentTable, utility: str, forgetting: str) -> Figure:
    """Each method's mean (utility, forgetting) with seed std as error bars; the reference in black."""
    figure = Figure(figsize=(5.5, 4.2))
    axes = figure.subplots()
    for row in table.rows:
        if utility not in row.mean or forgetting not in row.mean:
            continue
        is_reference = row.is_reference
        axes.errorbar(
            row.mean[forgetting],
            row.mean[utility],
            xerr=np.nan_to_num(row.std[forgetting]),
            yerr=np.nan_to_num(row.std[utility]),
            fmt="*" if is_reference else "o",
            markersize=12 if is_reference else 6,
            color=REFERENCE_COLOUR if is_reference else None,
            capsize=2,
        )
        axes.annotate(row.label, (row.mean[forgetting], row.mean[utility]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel(forgetting)
    axes.set_ylabel(utility)
    axes.set_title(f"{table.experiment}: {utility} vs {forgetting} (black ★ = reference)", fontsize=9)
    axes.grid(alpha=0.3)
    return figure


def time_vs_retrain(table: ExperimentTable, metric: str = "wall_time") -> Figure:
    """Horizontal bars of mean wall time (log scale), retraining highlighted."""
    rows = [r for r in table.rows if metric in r.mean and r.mean[metric] > 0]
    figure = Figure(figsize=(5.5, 0.35 * len(rows) + 1.2))
    axes = figure.subplots()
    colours = [REFERENCE_COLOUR if r.is_reference else "#1f77b4" for r in rows]
    axes.barh([r.label for r in rows], [r.mean[metric] for r in rows], color=colours)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel(f"{metric} (s, log scale)")
    axes.set_title(f"{table.experiment}: wall time (black = reference: retraining)", fontsize=9)
    return figure


def per_class_accuracy(accuracies: Mapping[str, np.ndarray], title: str) -> Figure:
    """Grouped bars: accuracy per class for each method."""
    names = list(accuracies)
    n_classes = max(len(v) for v in accuracies.values())
    if n_classes > 12:  # grouped bars become unreadable: a method x class heat map instead
        figure = Figure(figsize=(max(6.0, 0.18 * n_classes + 2), 0.35 * len(names) + 1.5))
        axes = figure.subplots()
        image = axes.imshow(np.vstack([accuracies[n] for n in names]), aspect="auto", vmin=0, vmax=1, cmap="viridis")
        axes.set_yticks(range(len(names)), names, fontsize=8)
        axes.set_xlabel("class")
        axes.set_title(title, fontsize=9)
        figure.colorbar(image, ax=axes, label="test accuracy")
        return figure
    figure = Figure(figsize=(7.0, 3.6))
    axes = figure.subplots()
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        axes.bar(np.arange(len(accuracies[name])) + k * width, accuracies[name], width=width, label=name)
    axes.set_xticks(np.arange(n_classes) + 0.4 - width / 2, [str(c) for c in range(n_classes)], fontsize=7)
    axes.set_xlabel("class")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1.05)
    axes.set_title(title, fontsize=9)
    # Below the axes: inside, the legend would hide the bars near 1.0.
    axes.legend(fontsize=7, ncol=min(len(names), 5), loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    return figure


def similar_gap_curves(experiment: str, measures: Sequence[Measure]) -> Figure:
    """One panel per measure: each row's gap to A(D∖N(S)) against k (evenly spaced), seed std as error bars.

    The black line is the influence left by the similar samples (retraining
    without S vs without S and its neighbours); dashed lines are remedy rows.
    """
    shown = [m for m in measures if m.gaps]
    figure = Figure(figsize=(4.6 * max(len(shown), 1), 3.8))
    axes_list = figure.subplots(1, max(len(shown), 1), squeeze=False)[0]
    for axes, measure in zip(axes_list, shown, strict=False):
        positions = {k: i for i, k in enumerate(measure.ks)}
        for curve in measure.gaps:
            ks = [k for k in measure.ks if k in curve.values]
            style: dict[str, Any] = {"color": REFERENCE_COLOUR, "linewidth": 2.5} if curve.role == "influence" else {}
            if curve.role == "remedy":
                style["linestyle"] = "--"
            axes.errorbar(
                [positions[k] for k in ks],
                [curve.values[k].mean for k in ks],
                yerr=[0.0 if np.isnan(curve.values[k].std) else curve.values[k].std for k in ks],
                marker="o", markersize=4, capsize=2, label=curve.label, **style,
            )
        axes.axhline(0.0, color="grey", linewidth=0.8)
        axes.set_xticks(range(len(measure.ks)), [str(k) for k in measure.ks])
        axes.set_xlabel("similar samples per target (k)")
        axes.set_ylabel(f"{measure.name} − A(D∖N(S))")
        axes.set_title(f"{experiment}: {measure.name}", fontsize=9)
        axes.grid(alpha=0.3)
    if shown:
        axes_list[0].legend(fontsize=6, loc="upper left")
    return figure
