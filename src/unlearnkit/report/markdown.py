"""Markdown rendering of experiment tables (mean ± std over seeds, retrain first)."""

from __future__ import annotations

import math

from unlearnkit.report.goals import goal_warnings
from unlearnkit.report.tables import ExperimentTable


def format_value(mean: float, std: float) -> str:
    def fmt(x: float) -> str:
        if math.isinf(x):
            return "inf"
        if abs(x) >= 1e5:
            return f"{x:.1e}"
        return f"{x:.3f}" if abs(x) < 100 else f"{x:.0f}"

    return fmt(mean) if math.isnan(std) else f"{fmt(mean)} ± {fmt(std)}"


def to_markdown(tables: list[ExperimentTable]) -> str:
    blocks = []
    for table in tables:
        header = "| method | seeds | " + " | ".join(table.metrics) + " |"
        rule = "|---|---|" + "---|" * len(table.metrics)
        lines = [f"### {table.experiment} (goal: {table.goal})", "", header, rule]
        for row in table.rows:
            cells = [format_value(row.mean[m], row.std[m]) if m in row.mean else "—" for m in table.metrics]
            lines.append(f"| {row.label} | {len(row.seeds)} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Mean ± std over seeds. " + _directions(table))
        for warning in goal_warnings(table).values():
            lines.append(f"\n> ⚠ {warning}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _directions(table: ExperimentTable) -> str:
    words = {"higher": "↑", "lower": "↓", "reference": "≈retrain"}
    return "Better: " + ", ".join(f"{m} {words[table.metric_info[m]['direction']]}" for m in table.metrics if m in table.metric_info) + "."
