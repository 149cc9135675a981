"""Figures for reports, drawn on ``matplotlib.figure.Figure`` objects (no pyplot global state)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from unlearnkit.report.requests import RequestChain, chain_title
from unlearnkit.report.similar import Measure
from unlearnkit.report.tables import ExperimentTable

REFERENCE_COLOUR = "black"  # not in the default colour cycle, so no method shares it


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def png_data_uri(figure: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(figure_png(figure)).decode()


Bounds = tuple[float, float]
UNBOUNDED: Bounds = (-math.inf, math.inf)

# Where a label may go relative to its point (offset in points, alignment), tried in this order.
_LABEL_PLACES = [
    ((5, 4), "left", "bottom"), ((5, -4), "left", "top"), ((-5, 4), "right", "bottom"), ((-5, -4), "right", "top"),
    ((0, 9), "center", "bottom"), ((0, -9), "center", "top"), ((12, 0), "left", "center"), ((-12, 0), "right", "center"),
]


def bounded_error(mean: float, std: float, bounds: Bounds) -> tuple[float, float]:
    """(below, above) lengths of a ±std error bar cut at the metric's bounds (a proportion never leaves [0, 1])."""
    std = 0.0 if math.isnan(std) else std
    low, high = bounds
    return max(0.0, mean - max(low, mean - std)), max(0.0, min(high, mean + std) - mean)


def _merged_labels(points: list[tuple[str, float, float]], span: tuple[float, float]) -> list[tuple[str, float, float]]:
    """Points closer than 1 % of the axes' span share one label ("original = finetune"): they cannot be told apart."""
    merged: list[tuple[list[str], float, float]] = []
    for label, x, y in points:
        for names, mx, my in merged:
            if abs(mx - x) <= 0.01 * span[0] and abs(my - y) <= 0.01 * span[1]:
                names.append(label)
                break
        else:
            merged.append(([label], x, y))
    return [(" = ".join(names), x, y) for names, x, y in merged]


def _place_labels(figure: Figure, axes: Axes, points: list[tuple[str, float, float]]) -> None:
    """Annotate each point at the first of a few places where its label overlaps no label placed before it."""
    renderer = FigureCanvasAgg(figure).get_renderer()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
    placed: list[Bbox] = []
    for label, x, y in points:
        annotation = None
        for offset, horizontal, vertical in _LABEL_PLACES:
            annotation = axes.annotate(label, (x, y), textcoords="offset points", xytext=offset, ha=horizontal, va=vertical, fontsize=8)
            box = annotation.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            annotation.remove()
            annotation = None
        if annotation is None:  # every place is taken: the first one, drawn over
            offset, horizontal, vertical = _LABEL_PLACES[0]
            annotation = axes.annotate(label, (x, y), textcoords="offset points", xytext=offset, ha=horizontal, va=vertical, fontsize=8)
        placed.append(annotation.get_window_extent(renderer))


def utility_vs_forgetting(
    table: ExperimentTable, utility: str, forgetting: str, bounds: Mapping[str, Bounds] | None = None
) -> Figure:
    """Each method's mean (utility, forgetting) with seed std as error bars (cut at ``bounds``); the reference in black.

    Labels never overlap one another: points that coincide share one label, the others take the first free place around
    their point.
    """
    bounds = bounds or {}
    figure = Figure(figsize=(5.5, 4.2))
    axes = figure.subplots()
    points = []
    for row in table.rows:
        if utility not in row.mean or forgetting not in row.mean:
            continue
        x, y = row.mean[forgetting], row.mean[utility]
        xerr = bounded_error(x, row.std[forgetting], bounds.get(forgetting, UNBOUNDED))
        yerr = bounded_error(y, row.std[utility], bounds.get(utility, UNBOUNDED))
        axes.errorbar(
            x,
            y,
            xerr=[[xerr[0]], [xerr[1]]],
            yerr=[[yerr[0]], [yerr[1]]],
            fmt="*" if row.is_reference else "o",
            markersize=12 if row.is_reference else 6,
            color=REFERENCE_COLOUR if row.is_reference else None,
            capsize=2,
        )
        points.append((row.label, x, y))
    for metric, axis in ((forgetting, "x"), (utility, "y")):
        low, high = bounds.get(metric, UNBOUNDED)
        if (low, high) == (0.0, 1.0):
            (axes.set_xlim if axis == "x" else axes.set_ylim)(-0.05, 1.05)
    axes.set_xlabel(forgetting)
    axes.set_ylabel(utility)
    axes.set_title(f"{table.experiment}: {utility} vs {forgetting} (black ★ = reference)", fontsize=9)
    axes.grid(alpha=0.3)
    x_limits, y_limits = axes.get_xlim(), axes.get_ylim()
    span = (x_limits[1] - x_limits[0], y_limits[1] - y_limits[0])
    _place_labels(figure, axes, _merged_labels(points, span))
    return figure


def quality_vs_time(table: ExperimentTable) -> Figure:
    """The quality–time frontier: each method's share of the gap closed against its time as a fraction of retraining's.

    Means over seeds with seed std as error bars (the share cut at [0, 1]); the
    time axis is logarithmic, since methods span orders of magnitude; retraining
    is the black star at (1, 1).
    """
    figure = Figure(figsize=(5.5, 4.2))
    axes = figure.subplots()
    points = []
    for row in table.rows:
        if "gap_closed" not in row.mean or "time_fraction" not in row.mean or row.mean["time_fraction"] <= 0:
            continue
        x, y = row.mean["time_fraction"], row.mean["gap_closed"]
        # On a log axis an error bar may not reach zero: it stops at a tenth of the point's value.
        x_low = min(row.std["time_fraction"], 0.9 * x)
        y_err = bounded_error(y, row.std["gap_closed"], (float("-inf"), 1.0))
        axes.errorbar(
            x, y, xerr=[[x_low], [row.std["time_fraction"]]], yerr=[[y_err[0]], [y_err[1]]],
            fmt="*" if row.is_reference else "o", markersize=12 if row.is_reference else 6,
            color=REFERENCE_COLOUR if row.is_reference else None, capsize=2,
        )
        points.append((row.label, x, y))
    axes.set_xscale("log")
    axes.set_xlabel("time_fraction (wall time / retraining's, log scale)")
    axes.set_ylabel("gap_closed")
    axes.set_title(f"{table.experiment}: quality vs time (black ★ = retraining; up and left is better)", fontsize=9)
    axes.grid(alpha=0.3, which="both")
    x_limits, y_limits = axes.get_xlim(), axes.get_ylim()
    span = (math.log10(x_limits[1]) - math.log10(x_limits[0]), y_limits[1] - y_limits[0])
    merged = _merged_labels([(label, math.log10(x), y) for label, x, y in points], span)  # closeness judged on the log axis
    _place_labels(figure, axes, [(label, 10.0**log_x, y) for label, log_x, y in merged])
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


def drift_curves(chain: RequestChain) -> Figure:
    """One panel per drift measure: its value after each request against the number of requests so far.

    Dashed black: the noise floor of the same measure (retraining vs retraining), where it was measured. Points of a
    branching chain are not joined (two requests can share a position).
    """
    names = chain.drift_names
    figure = Figure(figsize=(4.2 * max(len(names), 1), 3.4), layout="constrained")
    axes_list = figure.subplots(1, max(len(names), 1), squeeze=False)[0]
    line = "-" if chain.linear else "none"
    for axes, name in zip(axes_list, names, strict=False):
        points = [(step.position, step.drift[name]) for step in chain.steps if name in step.drift]
        axes.plot([p for p, _ in points], [v for _, v in points], marker="o", markersize=4, linestyle=line, label="drift")
        floor = [(step.position, step.noise_floor[name]) for step in chain.steps if name in step.noise_floor]
        if floor:
            axes.plot([p for p, _ in floor], [v for _, v in floor], color=REFERENCE_COLOUR, linestyle="--" if chain.linear else "none",
                      marker=".", label="noise floor (retrain vs retrain)")
        axes.set_xlabel("requests so far")
        axes.set_ylabel(name)
        axes.set_title(name, fontsize=9)
        if min([v for _, v in points + floor], default=0.0) >= 0:  # a distance: show how far from zero it is
            axes.set_ylim(bottom=0.0)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    axes_list[0].legend(fontsize=7)
    figure.suptitle(f"{chain_title(chain)}: drift from retraining vs number of requests", fontsize=9)
    return figure
