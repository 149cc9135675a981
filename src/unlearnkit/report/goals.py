"""Goal-aware reading of results: which metrics mean something for the declared goal.

An "untraining" experiment asks to be indistinguishable from retraining
without the forget set; an "unlearning" experiment asks to remove the whole
forget distribution (judged on held-out samples of it, against retraining
without all of it). A metric declares the goals it is meaningful for;
ranking methods by a metric outside the experiment's goal is flagged, not
silently done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from unlearnkit.report.tables import ExperimentTable

NOTION_ORDER = ("utility", "untraining", "unlearning", "diagnostic", "efficiency")
# Notions whose metrics say how well a method forgot; rankings are printed for these.
RANKED_NOTIONS = ("untraining", "unlearning")
OFF_GOAL = "not meant for this goal"


class GoalTable(Protocol):
    # Read-only members: the tables are frozen dataclasses.
    @property
    def goal(self) -> str: ...
    @property
    def metrics(self) -> list[str]: ...
    @property
    def metric_info(self) -> dict[str, dict[str, Any]]: ...


def metric_warning(goal: str, metric: str, info: Mapping[str, Any] | None) -> str | None:
    """Why ranking by ``metric`` under ``goal`` misleads, or None when it does not."""
    if info is None:
        return None
    if goal not in info["goals"]:
        return f"{metric} is meant for {' and '.join(info['goals'])}; under the {goal!r} goal its ranking is not meaningful"
    # "Lower is better" on a forgetting measure that is not a distance to the
    # reference rewards forgetting more than the reference did.
    if goal == "untraining" and info["direction"] == "lower" and info["notion"] == "unlearning" and not info.get("needs_reference", False):
        return f"{metric}: under 'untraining', forgetting more than retraining is a failure, not a win"
    return None


def goal_warnings(table: GoalTable) -> dict[str, str]:
    """metric -> warning, for every metric in the table that is not meant for the experiment's goal."""
    warnings = {}
    for metric in table.metrics:
        warning = metric_warning(table.goal, metric, table.metric_info.get(metric))
        if warning is not None:
            warnings[metric] = warning
    return warnings


def metrics_by_notion(table: GoalTable) -> dict[str, list[str]]:
    """The table's metrics grouped by what they measure, in a fixed order."""
    groups: dict[str, list[str]] = {}
    for metric in table.metrics:
        notion = table.metric_info.get(metric, {}).get("notion", "other")
        groups.setdefault(notion, []).append(metric)
    ordered = {n: groups.pop(n) for n in NOTION_ORDER if n in groups}
    ordered.update(groups)
    return ordered


def metrics_by_goal(table: GoalTable) -> dict[str, list[str]]:
    """Metrics meant for the declared goal grouped by notion, then one group of those that are not (⚠)."""
    warned = goal_warnings(table)
    groups: dict[str, list[str]] = {}
    for notion, metrics in metrics_by_notion(table).items():
        kept = [m for m in metrics if m not in warned]
        if kept:
            groups[notion] = kept
    off_goal = [m for m in table.metrics if m in warned]
    if off_goal:
        groups[OFF_GOAL] = off_goal
    return groups


@dataclass(frozen=True)
class Ranking:
    metric: str
    direction: str
    order: list[tuple[str, float]]  # (method label, sort key: value, or distance to the reference)
    warning: str | None


def _key(direction: str, value: float, reference: float | None) -> float:
    if direction == "higher":
        return -value
    if direction == "lower":
        return value
    return abs(value - reference) if reference is not None else math.nan


def rank(goal: str, metric: str, info: Mapping[str, Any], values: Mapping[str, float], reference: float | None) -> Ranking | None:
    """Methods best first by ``metric``; "≈R" metrics by distance to the reference's value.

    None when the metric compares with the reference and there is no reference value.
    """
    direction = info["direction"]
    if direction == "reference" and reference is None:
        return None
    finite = {label: v for label, v in values.items() if not math.isnan(v)}
    order = sorted(((label, _key(direction, v, reference)) for label, v in finite.items()), key=lambda item: item[1])
    shown = [(label, finite[label] if direction != "reference" else key) for label, key in order]
    return Ranking(metric, direction, shown, metric_warning(goal, metric, info))


def table_rankings(table: ExperimentTable) -> list[Ranking]:
    """Rankings of the non-reference methods by every forgetting metric of a per-model table."""
    reference = table.reference_row
    rankings = []
    for metric in table.metrics:
        info = table.metric_info.get(metric)
        if info is None or info["notion"] not in RANKED_NOTIONS:
            continue
        values = {row.label: row.mean[metric] for row in table.rows if not row.is_reference and metric in row.mean}
        ranking = rank(table.goal, metric, info, values, reference.mean.get(metric) if reference else None)
        if ranking is not None:
            rankings.append(ranking)
    return rankings


def ranking_text(ranking: Ranking) -> str:
    """``a (0.12), b (0.3)``, best first; for "≈R" metrics the number is the distance to the reference."""
    return ", ".join(f"{label} ({value:.3g})" for label, value in ranking.order)
