"""A self-contained HTML report: tables, goal warnings and embedded PNG plots."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
import torch

from unlearnkit import __version__
from unlearnkit.metrics.base import ModelOutputs
from unlearnkit.report.goals import goal_warnings, metrics_by_notion
from unlearnkit.report.loss_histograms import loss_histogram_figure
from unlearnkit.report.markdown import format_value
from unlearnkit.report.plots import (
    per_class_accuracy,
    png_data_uri,
    time_vs_retrain,
    utility_vs_forgetting,
)
from unlearnkit.report.tables import ExperimentTable
from unlearnkit.store.sqlite import RunRecord, SQLiteStore

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.reference { background: #fdecea; font-weight: bold; }
.warning { background: #fff4ce; border-left: 4px solid #f0b400; padding: 4px 10px; margin: 4px 0; }
.plots img { max-width: 48%; margin: 4px; vertical-align: top; }
th.notion { background: #f3f3f3; font-weight: normal; font-style: italic; }
"""

Section = Callable[[ExperimentTable, list[RunRecord], SQLiteStore], str]


def _table_html(table: ExperimentTable) -> str:
    groups = metrics_by_notion(table)
    ordered = [m for ms in groups.values() for m in ms]
    warnings = goal_warnings(table)
    arrows = {"higher": "↑", "lower": "↓", "reference": "≈R"}
    head_groups = "".join(f'<th class="notion" colspan="{len(ms)}">{html.escape(n)}</th>' for n, ms in groups.items())
    head = "".join(
        f"<th>{html.escape(m)} {arrows.get(table.metric_info.get(m, {}).get('direction', ''), '')}{' ⚠' if m in warnings else ''}</th>"
        for m in ordered
    )
    body = []
    for row in table.rows:
        cells = "".join(f"<td>{format_value(row.mean[m], row.std[m]) if m in row.mean else '—'}</td>" for m in ordered)
        css = ' class="reference"' if row.method == "Retrain" else ""
        body.append(f"<tr{css}><td>{html.escape(row.label)}</td><td>{len(row.seeds)}</td>{cells}</tr>")
    return (
        f'<table><tr><th></th><th></th>{head_groups}</tr><tr><th>method</th><th>seeds</th>{head}</tr>{"".join(body)}</table>'
        + "".join(f'<div class="warning">⚠ {html.escape(w)}</div>' for w in warnings.values())
    )


def _img(figure_uri: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{figure_uri}">'


def _summary_plots(table: ExperimentTable, runs: list[RunRecord], store: SQLiteStore) -> str:
    images = []
    forgetting = "heldout_forget_acc" if table.goal == "unlearning" else "forget_acc"
    if "test_acc" in table.metrics and forgetting in table.metrics:
        images.append(_img(png_data_uri(utility_vs_forgetting(table, "test_acc", forgetting)), "utility vs forgetting"))
    if "wall_time" in table.metrics:
        images.append(_img(png_data_uri(time_vs_retrain(table)), "wall time"))
    return f'<div class="plots">{"".join(images)}</div>' if images else ""


def stored_outputs(arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> ModelOutputs:
    return ModelOutputs({k: torch.from_numpy(v[0]) for k, v in arrays.items()}, {k: torch.from_numpy(v[1]) for k, v in arrays.items()})


def _first_seed_runs(runs: list[RunRecord]) -> dict[str, RunRecord]:
    seed = min(r.seed for r in runs)
    return {r.label: r for r in runs if r.seed == seed}


def _output_plots(table: ExperimentTable, runs: list[RunRecord], store: SQLiteStore) -> str:
    by_label = _first_seed_runs(runs)
    reference = next((r for r in by_label.values() if r.method == "Retrain"), None)
    reference_out = stored_outputs(store.outputs(reference.run_key)) if reference else None
    images, per_class = [], {}
    for label, run in by_label.items():
        out = store.outputs(run.run_key)
        if "test" in out:
            logits, labels = out["test"]
            hits = logits.argmax(1) == labels
            per_class[label] = np.array([hits[labels == c].mean() if (labels == c).any() else np.nan for c in range(logits.shape[1])])
        if run.method == "Retrain" or "forget" not in out or "test" not in out:
            continue
        figure = loss_histogram_figure(stored_outputs(out), reference=reference_out, title=f"{label} (seed {run.seed}): losses")
        images.append(_img(png_data_uri(figure), f"{label} losses"))
    if per_class:
        images.insert(0, _img(png_data_uri(per_class_accuracy(per_class, f"{table.experiment}: per-class test accuracy (first seed)")), "per-class accuracy"))
    return f'<h3>Per-example outputs (first seed)</h3><div class="plots">{"".join(images)}</div>' if images else ""


SECTIONS: list[Section] = [_summary_plots, _output_plots]


def render_html(store: SQLiteStore, tables: list[ExperimentTable], runs: list[RunRecord]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>unlearnkit report</title><style>{_STYLE}</style></head><body>"]
    parts.append(f"<h1>unlearnkit report</h1><p>unlearnkit {__version__}; store <code>{html.escape(store.path)}</code>. "
                 "Mean ± std over seeds; retraining (black) is the reference. ≈R: closest to retraining is best.</p>")
    for table in tables:
        experiment_runs = [r for r in runs if r.experiment == table.experiment]
        parts.append(f"<h2>{html.escape(table.experiment)} <small>(goal: {html.escape(table.goal)})</small></h2>")
        parts.append(_table_html(table))
        parts += [section(table, experiment_runs, store) for section in SECTIONS]
    parts.append("</body></html>")
    return "\n".join(parts)
