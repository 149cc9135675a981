"""Markdown rendering of experiment tables (mean ± std over seeds, the reference first).

Columns are grouped by the declared goal: the metrics meant for it (by
notion), then those that are not (marked ⚠).  Rankings by each forgetting
metric follow the table, each with its warning on the same line when the
metric is not meant for the goal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from unlearnkit.report.goals import (
    OFF_GOAL,
    Ranking,
    goal_warnings,
    metrics_by_goal,
    ranking_text,
    table_rankings,
)
from unlearnkit.report.population import (
    BOOTSTRAP_LEVEL,
    PopulationTable,
    PopulationValue,
    population_rankings,
)
from unlearnkit.report.requests import RequestChain, requests_markdown
from unlearnkit.report.similar import SimilarSection, similar_markdown
from unlearnkit.report.tables import ExperimentTable
from unlearnkit.store import FailureRecord

ARROWS = {"higher": "↑", "lower": "↓", "reference": "≈R"}


def _number(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    if abs(x) >= 1e5:
        return f"{x:.1e}"
    return f"{x:.3f}" if abs(x) < 100 else f"{x:.0f}"


def format_value(mean: float, std: float) -> str:
    return _number(mean) if math.isnan(std) else f"{_number(mean)} ± {_number(std)}"


def format_interval(value: PopulationValue) -> str:
    if value.undefined:
        return f"{_number(value.value)} ({value.undefined} undefined examples)"
    return f"{_number(value.value)} [{_number(value.low)}, {_number(value.high)}]"


def _header(metric: str, info: dict[str, Any], warned: bool) -> str:
    arrow = ARROWS.get(info.get("direction", ""), "")
    return f"{metric} {arrow}{' ⚠' if warned else ''}".strip()


def _grouping_line(groups: dict[str, list[str]], goal: str) -> str:
    parts = [f"{notion}: {', '.join(metrics)}" for notion, metrics in groups.items() if notion != OFF_GOAL]
    line = f"Meant for the {goal!r} goal: " + "; ".join(parts) + "."
    if OFF_GOAL in groups:
        line += f" ⚠ Not meant for it: {', '.join(groups[OFF_GOAL])}."
    return line


def _ranking_lines(rankings: list[Ranking]) -> list[str]:
    lines = []
    for ranking in rankings:
        what = "distance to the reference" if ranking.direction == "reference" else ARROWS[ranking.direction]
        line = f"- **{ranking.metric}** ({what}): {ranking_text(ranking)}"
        if ranking.warning:
            line += f" — ⚠ {ranking.warning}"
        lines.append(line)
    return lines


def table_markdown(table: ExperimentTable) -> str:
    groups = metrics_by_goal(table)
    ordered = [m for ms in groups.values() for m in ms]
    warnings = goal_warnings(table)
    headers = [_header(m, table.metric_info.get(m, {}), m in warnings) for m in ordered]
    lines = [f"### {table.experiment} (goal: {table.goal})", "", "| method | seeds | " + " | ".join(headers) + " |"]
    lines.append("|---|---|" + "---|" * len(ordered))
    for row in table.rows:
        cells = [format_value(row.mean[m], row.std[m]) if m in row.mean else "—" for m in ordered]
        lines.append(f"| {row.label} | {len(row.seeds)} | " + " | ".join(cells) + " |")
    lines += ["", "Mean ± std over seeds. " + _reference_sentence(table), "", _grouping_line(groups, table.goal)]
    rankings = table_rankings(table)
    if rankings:
        lines += ["", "Ranking, best first:", *_ranking_lines(rankings)]
    for metric, warning in warnings.items():
        if not any(r.metric == metric for r in rankings):
            lines.append(f"\n> ⚠ {warning}")
    return "\n".join(lines)


def _reference_sentence(table: ExperimentTable) -> str:
    reference = table.reference_row
    if reference is None:
        return "No reference row is stored: ≈R metrics cannot be ranked."
    return f"≈R: closest to the reference ({reference.label}) is best."


def population_markdown(table: PopulationTable) -> str:
    warnings = goal_warnings(table)
    headers = [_header(m, table.metric_info[m], m in warnings) for m in table.metrics]
    lines = [
        f"#### {table.experiment}: population metrics (goal: {table.goal}; reference population: {table.reference})",
        "",
        "| method | models per side | " + " | ".join(headers) + " |",
        "|---|---|" + "---|" * len(table.metrics),
    ]
    for row in table.rows:
        if row.note:
            cells = [f"— ({row.note})"] + ["—"] * (len(table.metrics) - 1)
        else:
            cells = [format_interval(row.values[m]) for m in table.metrics]
        lines.append(f"| {row.label} | {len(row.seeds)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Value [{BOOTSTRAP_LEVEL:.0%} percentile-bootstrap interval over examples; the model populations are fixed].",
    ]
    rankings = population_rankings(table)
    if rankings:
        lines += ["", "Ranking, best first:", *_ranking_lines(rankings)]
    return "\n".join(lines)


def failure_lines(failures: Sequence[FailureRecord]) -> list[str]:
    """What failed in the last `run` of one experiment: the failed units first, then how many could not run."""
    crashed = [f for f in failures if f.blocked_by is None]
    waiting = len(failures) - len(crashed)
    lines = [f"{len(crashed)} unit(s) of work failed in the last `run` (re-running it retries them; tracebacks in the JSON report):"]
    lines += [f"- {f.unit}: {f.error} (after {f.attempts} attempt(s))" for f in crashed]
    if waiting:
        lines.append(f"- {waiting} more could not run without their results")
    return lines


def to_markdown(
    tables: list[ExperimentTable],
    population: list[PopulationTable] | None = None,
    failures: Sequence[FailureRecord] = (),
    requests: Sequence[RequestChain] = (),
    similar: Mapping[str, SimilarSection] | None = None,
) -> str:
    blocks = []
    similar = similar or {}
    by_experiment = {t.experiment: t for t in population or []}
    failed: dict[str, list[FailureRecord]] = {}
    for failure in failures:
        failed.setdefault(failure.experiment, []).append(failure)
    for table in tables:
        blocks.append(table_markdown(table))
        if table.experiment in by_experiment:
            blocks.append(population_markdown(by_experiment[table.experiment]))
        if table.experiment in similar:
            blocks.append(similar_markdown(similar[table.experiment]))
        if table.experiment in failed:
            blocks.append("\n".join("> ⚠ " + line for line in failure_lines(failed.pop(table.experiment))))
    for experiment, lines in failed.items():  # experiments of which no run finished
        blocks.append(f"### {experiment}\n\nNo run finished.\n\n" + "\n".join("> ⚠ " + line for line in failure_lines(lines)))
    if requests:
        blocks.append(requests_markdown(requests))
    return "\n\n".join(blocks) + "\n"
