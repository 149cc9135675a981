"""Goal-aware reading of results: which metrics mean something for the declared goal.

An "untraining" experiment asks to be indistinguishable from retraining
without the forget set; an "unlearning" experiment asks to remove the whole
forget distribution (judged on held-out samples of it). A metric declares the
goals it is meaningful for; ranking methods by a metric outside the
experiment's goal is flagged, not silently done.
"""

from __future__ import annotations

from unlearnkit.report.tables import ExperimentTable

NOTION_ORDER = ("utility", "untraining", "unlearning", "diagnostic", "efficiency")


def goal_warnings(table: ExperimentTable) -> dict[str, str]:
    """metric -> warning, for every metric in the table that is not meant for the experiment's goal."""
    warnings = {}
    for metric in table.metrics:
        info = table.metric_info.get(metric)
        if info is None:
            continue
        if table.goal not in info["goals"]:
            warnings[metric] = (
                f"{metric} is a {'/'.join(info['goals'])} metric; under the {table.goal!r} goal its ranking is not meaningful"
            )
        elif table.goal == "untraining" and info["direction"] == "lower" and info["notion"] == "unlearning":
            warnings[metric] = f"{metric}: under 'untraining', forgetting more than retraining is a failure, not a win"
    return warnings


def metrics_by_notion(table: ExperimentTable) -> dict[str, list[str]]:
    """The table's metrics grouped by what they measure, in a fixed order."""
    groups: dict[str, list[str]] = {}
    for metric in table.metrics:
        notion = table.metric_info.get(metric, {}).get("notion", "other")
        groups.setdefault(notion, []).append(metric)
    ordered = {n: groups.pop(n) for n in NOTION_ORDER if n in groups}
    ordered.update(groups)
    return ordered
