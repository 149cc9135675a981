"""A self-contained HTML report: tables, goal warnings, population metrics and embedded PNG plots."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from unlearnkit.metrics.base import ModelOutputs
from unlearnkit.metrics.reconstruction import PixelRange, reconstruction_grid
from unlearnkit.report.build import Report
from unlearnkit.report.goals import (
    OFF_GOAL,
    Ranking,
    goal_warnings,
    metrics_by_goal,
    ranking_text,
    table_rankings,
)
from unlearnkit.report.loss_histograms import loss_histogram_figure
from unlearnkit.report.markdown import ARROWS, failure_lines, format_interval, format_value
from unlearnkit.report.plots import (
    Bounds,
    drift_curves,
    per_class_accuracy,
    png_data_uri,
    quality_vs_time,
    similar_gap_curves,
    time_vs_retrain,
    utility_vs_forgetting,
)
from unlearnkit.report.population import (
    BOOTSTRAP_LEVEL,
    PopulationTable,
    population_against_retrain,
    population_rankings,
)
from unlearnkit.report.requests import DRIFT_SENTENCE, INTRODUCTION, RequestChain, chain_table, chain_title
from unlearnkit.report.similar import NO_ORACLE_N, Curve, SimilarSection
from unlearnkit.report.tables import ExperimentTable
from unlearnkit.store import FailureRecord, RunRecord, StoreReader
from unlearnkit.version import __version__

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.reference { background: #fdecea; font-weight: bold; }
th.offgoal, td.offgoal { background: #fff8e1; }
.warning { background: #fff4ce; border-left: 4px solid #f0b400; padding: 4px 10px; margin: 4px 0; }
.plots img { max-width: 48%; margin: 4px; vertical-align: top; }
th.notion { background: #f3f3f3; font-weight: normal; font-style: italic; }
ul.rankings li { margin: 2px 0; }
"""

_OFFGOAL = ' class="offgoal"'


def _header_cells(metrics: list[str], info: dict[str, dict[str, Any]], warnings: dict[str, str]) -> str:
    cells = []
    for m in metrics:
        arrow = ARROWS.get(info.get(m, {}).get("direction", ""), "")
        css = _OFFGOAL if m in warnings else ""
        title = f' title="{html.escape(warnings[m])}"' if m in warnings else ""
        cells.append(f"<th{css}{title}>{html.escape(m)} {arrow}{' ⚠' if m in warnings else ''}</th>")
    return "".join(cells)


def _rankings_html(rankings: list[Ranking]) -> str:
    if not rankings:
        return ""
    items = []
    for ranking in rankings:
        what = "distance to the reference" if ranking.direction == "reference" else ARROWS[ranking.direction]
        item = f"<b>{html.escape(ranking.metric)}</b> ({what}): {html.escape(ranking_text(ranking))}"
        if ranking.warning:
            item += f' <span class="warning">⚠ {html.escape(ranking.warning)}</span>'
        items.append(f"<li>{item}</li>")
    return f'<p>Ranking, best first:</p><ul class="rankings">{"".join(items)}</ul>'


def _table_html(table: ExperimentTable) -> str:
    groups = metrics_by_goal(table)
    ordered = [m for ms in groups.values() for m in ms]
    warnings = goal_warnings(table)
    head_groups = "".join(
        f'<th class="notion{" offgoal" if n == OFF_GOAL else ""}" colspan="{len(ms)}">{html.escape(n)}</th>' for n, ms in groups.items()
    )
    body = []
    for row in table.rows:
        cells = "".join(
            f"<td{_OFFGOAL if m in warnings else ''}>{format_value(row.mean[m], row.std[m]) if m in row.mean else '—'}</td>"
            for m in ordered
        )
        css = ' class="reference"' if row.is_reference else ""
        body.append(f"<tr{css}><td>{html.escape(row.label)}</td><td>{len(row.seeds)}</td>{cells}</tr>")
    rankings = table_rankings(table)
    ranked = {r.metric for r in rankings}
    return (
        f"<p>Columns meant for the <b>{html.escape(table.goal)}</b> goal are grouped by what they measure; "
        "those not meant for it are shaded and marked ⚠.</p>"
        f'<table><tr><th></th><th></th>{head_groups}</tr><tr><th>method</th><th>seeds</th>'
        f'{_header_cells(ordered, table.metric_info, warnings)}</tr>{"".join(body)}</table>'
        + _rankings_html(rankings)
        + "".join(f'<div class="warning">⚠ {html.escape(w)}</div>' for m, w in warnings.items() if m not in ranked)
    )


def _population_html(table: PopulationTable) -> str:
    warnings = goal_warnings(table)
    body = []
    for row in table.rows:
        if row.note:
            cells = f'<td colspan="{len(table.metrics)}">— ({html.escape(row.note)})</td>'
        else:
            cells = "".join(
                f"<td{_OFFGOAL if m in warnings else ''}>{html.escape(format_interval(row.values[m]))}</td>" for m in table.metrics
            )
        body.append(f"<tr><td>{html.escape(row.label)}</td><td>{len(row.seeds)}</td>{cells}</tr>")
    return (
        f'<h3>Population metrics</h3><p>Reference population: {html.escape(table.reference)}. '
        f"Value [{BOOTSTRAP_LEVEL:.0%} percentile-bootstrap interval over examples; the model populations are fixed].</p>"
        f'<table class="population"><tr><th>method</th><th>models per side</th>'
        f'{_header_cells(table.metrics, table.metric_info, warnings)}</tr>{"".join(body)}</table>'
        + _rankings_html(population_rankings(table))
    )


def _failures_html(failures: list[FailureRecord]) -> str:
    head, *items = failure_lines(failures)
    return f'<div class="warning">⚠ {html.escape(head)}<ul>{"".join(f"<li>{html.escape(i[2:])}</li>" for i in items)}</ul></div>'


def _img(figure_uri: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{figure_uri}">'


Section = Callable[[ExperimentTable, list[RunRecord], Report, StoreReader], str]


def scatter_axes(table: ExperimentTable) -> tuple[str, str] | None:
    """The utility and forgetting metrics to plot against each other, chosen from what each metric declares.

    Utility: the last "higher is better" utility metric (tables list retain before
    test). Forgetting: the first "≈ reference" metric of the goal's notion. Any
    kind's table qualifies, whatever its metrics are called.
    """
    declared = [(m, table.metric_info.get(m, {})) for m in table.metrics]
    utility = [m for m, info in declared if info.get("notion") == "utility" and info.get("direction") == "higher"]
    forgetting = [m for m, info in declared if info.get("notion") == table.goal and info.get("direction") == "reference"]
    return (utility[-1], forgetting[0]) if utility and forgetting else None


def metric_bounds(runs: list[RunRecord], metrics: tuple[str, ...]) -> dict[str, Bounds]:
    """[0, 1] for a metric every run scored within [0, 1] (a proportion: its error bars stop there)."""
    bounds = {}
    for metric in metrics:
        values = [run.metrics[metric] for run in runs if metric in run.metrics]
        if values and all(0.0 <= value <= 1.0 for value in values):
            bounds[metric] = (0.0, 1.0)
    return bounds


def _summary_plots(table: ExperimentTable, runs: list[RunRecord], report: Report, store: StoreReader) -> str:
    images = []
    axes = scatter_axes(table)
    if axes is not None:
        images.append(_img(png_data_uri(utility_vs_forgetting(table, *axes, metric_bounds(runs, axes))), "utility vs forgetting"))
    if any("gap_closed" in row.mean and "time_fraction" in row.mean for row in table.rows):
        images.append(_img(png_data_uri(quality_vs_time(table)), "quality vs time"))
    if "wall_time" in table.metrics:
        images.append(_img(png_data_uri(time_vs_retrain(table)), "wall time"))
    return f'<div class="plots">{"".join(images)}</div>' if images else ""


def stored_outputs(arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> ModelOutputs:
    return ModelOutputs({k: torch.from_numpy(v[0]) for k, v in arrays.items()}, {k: torch.from_numpy(v[1]) for k, v in arrays.items()})


def _first_seed_runs(runs: list[RunRecord]) -> dict[str, RunRecord]:
    seed = min(r.seed for r in runs)
    return {r.label: r for r in runs if r.seed == seed}


# Test data excludes the forget distribution's samples; adding the held-out
# ones shows how a forgotten class (or group) is classified after unlearning.
_PER_CLASS_SPLITS = ("test", "heldout_forget")


def _test_accuracy_per_class(out: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    logits = np.concatenate([out[s][0] for s in _PER_CLASS_SPLITS if s in out])
    labels = np.concatenate([out[s][1] for s in _PER_CLASS_SPLITS if s in out])
    hits = logits.argmax(1) == labels
    return np.array([hits[labels == c].mean() if (labels == c).any() else np.nan for c in range(logits.shape[1])])


def _output_plots(table: ExperimentTable, runs: list[RunRecord], report: Report, store: StoreReader) -> str:
    by_label = _first_seed_runs(runs)
    first = next(iter(by_label.values()))
    key = first.reference_key
    reference_arrays = store.reference_outputs(key) if key in report.references else None
    if reference_arrays is None:  # a store written before references were kept
        retrain = next((r for r in by_label.values() if r.role == "retrain" and table.goal == "untraining"), None)
        reference_arrays = store.outputs(retrain.run_key) if retrain else None
    reference_out = stored_outputs(reference_arrays) if reference_arrays is not None else None
    images, per_class = [], {}
    # Under "untraining" the retrain row already is the reference model.
    separate_reference = table.reference_row is not None and table.reference_row.method == "Reference"
    if separate_reference and reference_arrays is not None and "test" in reference_arrays:
        per_class["reference"] = _test_accuracy_per_class(reference_arrays)
    for label, run in by_label.items():
        out = store.outputs(run.run_key)
        if "test" in out:
            per_class[label] = _test_accuracy_per_class(out)
        if (run.role == "retrain" and table.goal == "untraining") or "forget" not in out or "test" not in out:
            continue
        figure = loss_histogram_figure(stored_outputs(out), reference=reference_out, title=f"{label} (seed {run.seed}): losses")
        images.append(_img(png_data_uri(figure), f"{label} losses"))
    if per_class:
        title = f"{table.experiment}: per-class accuracy on test + held-out forget-distribution samples (first seed)"
        images.insert(0, _img(png_data_uri(per_class_accuracy(per_class, title)), "per-class accuracy"))
    return f'<h3>Per-example outputs (first seed)</h3><div class="plots">{"".join(images)}</div>' if images else ""


def _curve_rows(curves: list[Curve], ks: list[int]) -> str:
    rows = []
    for curve in curves:
        css = ' class="reference"' if curve.role in ("oracle_n", "influence") else ""
        cells = "".join(f"<td>{html.escape(curve.values[k].text()) if k in curve.values else '—'}</td>" for k in ks)
        rows.append(f"<tr{css}><td>{html.escape(curve.label)}</td>{cells}</tr>")
    return "".join(rows)


def _remedy_html(section: SimilarSection) -> str:
    if not section.remedies:
        return ""
    names = list(section.remedies[0].gap_base)
    utilities = sorted({u for r in section.remedies for u in r.utility_base})
    head = "".join(f"<th>gap {html.escape(n)}: without → with</th>" for n in names)
    head += "".join(f"<th>{html.escape(u)}: without → with</th>" for u in utilities)
    body = []
    for r in section.remedies:
        cells = "".join(f"<td>{html.escape(r.gap_base[n].text())} → {html.escape(r.gap_remedy[n].text())}</td>" for n in names)
        cells += "".join(
            f"<td>{html.escape(r.utility_base[u].text())} → {html.escape(r.utility_remedy[u].text())}</td>" if u in r.utility_base
            else "<td>—</td>"
            for u in utilities
        )
        body.append(f"<tr><td>{html.escape(r.label)}</td><td>{html.escape(r.base)}</td>{cells}</tr>")
    return (
        "<h4>The remedy: forget S ∪ N(S)</h4><p>Each remedy row unlearns the targets and their similar samples; it is set "
        "beside the same method unlearning the targets only. Gaps are means over all targets of (row − A(D∖N(S))); utility "
        "is the experiment's metrics. Mean ± std over seeds.</p>"
        f"<table><tr><th>remedy</th><th>vs</th>{head}</tr>{''.join(body)}</table>"
    )


def _similar_section(table: ExperimentTable, runs: list[RunRecord], report: Report, store: StoreReader) -> str:
    """Residual influence of similar samples: per-target measures by k, both oracles, the remedy, reconstructions."""
    section = report.similar.get(table.experiment)
    if section is None:
        return ""
    parts = [
        "<h3>Similar samples: the influence left on the targets</h3>",
        "<p>Each forget target had k similar samples (constructed copies or neighbours) in the training set. "
        "A(D∖S) retrains without the targets (their similar samples stay); A(D∖N(S)) without the targets and every "
        "similar sample. Per target, then averaged over the targets with the same k and over seeds (mean ± std).</p>",
    ]
    if not section.has_oracle_n:
        parts.append(f'<div class="warning">{html.escape(NO_ORACLE_N)}</div>')
    if any(m.gaps for m in section.measures):
        curves = png_data_uri(similar_gap_curves(table.experiment, section.measures))
        parts.append(f'<div class="plots">{_img(curves, "gaps over k")}</div>')
    for measure in section.measures:
        head = "".join(f"<th>k={k}</th>" for k in measure.ks)
        parts.append(f"<h4>{html.escape(measure.name)}: {html.escape(measure.description)}</h4>")
        parts.append(f"<table><tr><th>row</th>{head}</tr>{_curve_rows(measure.curves, measure.ks)}</table>")
        if measure.gaps:
            parts.append(
                f"<p>Gap to A(D∖N(S)), per seed then mean ± std:</p><table><tr><th>row</th>{head}</tr>"
                f"{_curve_rows(measure.gaps, measure.ks)}</table>"
            )
    parts.append(_remedy_html(section))
    against = population_against_retrain(store, runs)
    if against is not None:
        parts.append(_population_html(against).replace("<h3>Population metrics</h3>", "<h4>Population metrics against A(D∖S)</h4>", 1))
    if section.grid and section.pixel_range is not None:
        pixel_range = PixelRange(*section.pixel_range)
        columns = {name: torch.from_numpy(np.asarray(images, dtype=np.float32)) for name, images in section.grid.items()}
        figure = reconstruction_grid(columns, pixel_range, section.grid_rows)
        parts.append(
            "<h4>Reconstructions (first seed, the targets with the most similar samples)</h4><p>The attacker holds the target with "
            "half its pixel blocks hidden (shown at the background value) and completes them with the candidate the model finds "
            "most plausible.</p>" + f'<div class="plots">{_img(png_data_uri(figure), "reconstructions")}</div>'
        )
    return "".join(parts)


SECTIONS: list[Section] = [_summary_plots, _output_plots, _similar_section]


def _requests_html(chains: list[RequestChain]) -> str:
    """Each chain of deletion requests: its table, then its drift curves when drift was attached to its requests."""
    parts = [f"<h2>Deletion requests</h2><p>{html.escape(INTRODUCTION)}</p>"]
    if any(chain.drift_names or chain.noise_names for chain in chains):
        parts.append(f"<p>{html.escape(DRIFT_SENTENCE)}</p>")
    for chain in chains:
        header, rows = chain_table(chain)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        parts.append(f"<h3>{html.escape(chain_title(chain))}</h3><table><tr>{head}</tr>{body}</table>")
        if chain.drift_names:
            figure = png_data_uri(drift_curves(chain))  # one panel per measure: the page's full width, not half of it
            parts.append(f'<div class="plots"><img alt="drift vs number of requests" style="max-width: 100%" src="{figure}"></div>')
    return "".join(parts)


def render_html(store: StoreReader, report: Report) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>unlearnkit report</title><style>{_STYLE}</style></head><body>"]
    parts.append(
        f"<h1>unlearnkit report</h1><p>unlearnkit {__version__}; store <code>{html.escape(store.path)}</code>. "
        "Mean ± std over seeds; the reference row (black in plots) is the model every ≈R metric is compared with: retraining "
        "without the forget set under 'untraining', without the whole forget distribution under 'unlearning'.</p>"
    )
    population = {p.experiment: p for p in report.population}
    failed: dict[str, list[FailureRecord]] = {}
    for failure in report.failures:
        failed.setdefault(failure.experiment, []).append(failure)
    for table in report.tables:
        experiment_runs = [r for r in report.runs if r.experiment == table.experiment]
        parts.append(f"<h2>{html.escape(table.experiment)} <small>(goal: {html.escape(table.goal)})</small></h2>")
        parts.append(_table_html(table))
        if table.experiment in failed:
            parts.append(_failures_html(failed.pop(table.experiment)))
        if table.experiment in population:
            parts.append(_population_html(population[table.experiment]))
        if experiment_runs:  # plots read stored outputs; a table built by hand has none
            parts += [section(table, experiment_runs, report, store) for section in SECTIONS]
    for experiment, failures in failed.items():  # experiments of which no run finished
        parts.append(f"<h2>{html.escape(experiment)}</h2><p>No run finished.</p>{_failures_html(failures)}")
    if report.requests:
        parts.append(_requests_html(report.requests))
    parts.append("</body></html>")
    return "\n".join(parts)
