"""A committed Markdown table (before) next to a store's numbers (after), in units of seed noise.

Reads the "before" table as `unlearnkit report` printed it (mean ± std per
cell) and the "after" numbers from a store's JSON report, rounded to the table's
precision; prints, per method and metric, both means and |difference| / the
larger of the two stds (at least half the table's last digit; differences
over 2 are marked). Wall time, speed-up, time fraction and peak memory are
skipped: they measure the machine and its load, not what the code computes.

Usage: python benchmarks/before_after.py BEFORE.md STORE.sqlite EXPERIMENT [METRIC ...]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

MACHINE_METRICS = {"wall_time", "speedup", "time_fraction", "peak_memory"}
CELL = re.compile(r"^\s*(-?[\d.e+-]+) ± ([\d.e+-]+)\s*$")


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def before_table(path: str, experiment: str) -> dict[str, dict[str, tuple[float, float, int]]]:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and line.lstrip("#").strip().startswith(f"{experiment} "))
    header = [h.strip() for h in lines[start + 2].strip().strip("|").split("|")]
    names = [h.split(" ")[0] for h in header]
    table: dict[str, dict[str, tuple[float, float, int]]] = {}
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        row = {}
        for name, cell in zip(names[2:], cells[2:], strict=True):
            match = CELL.match(cell)
            if match:
                row[name] = (float(match[1]), float(match[2]), _decimals(match[1]))
        table[cells[0]] = row
    return table


def after_table(store: str, experiment: str) -> dict[str, dict[str, tuple[float, float]]]:
    command = [sys.executable, "-m", "unlearnkit", "report", "--store", store, "--format", "json", "--experiment", experiment]
    rows = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return {row["method"]: {k: (v, row["std"].get(k, float("nan"))) for k, v in row["metrics"].items()} for row in rows}


def main(before_path: str, store: str, experiment: str, metrics: list[str]) -> None:
    before, after = before_table(before_path, experiment), after_table(store, experiment)
    columns = metrics or [m for m in next(iter(before.values())) if m not in MACHINE_METRICS]
    print("| method | " + " | ".join(f"{m} before / after (Δ/σ)" for m in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for method, row in before.items():
        cells = []
        for metric in columns:
            if method not in after or metric not in row or metric not in after[method]:
                cells.append("—")
                continue
            (b, bs, decimals), (a, as_) = row[metric], after[method][metric]
            # The table printed rounded values: compare at its precision, with at least half its last digit as noise.
            a, as_ = round(a, decimals), round(as_, decimals)
            sigma = max(bs, as_, 0.5 * 10.0**-decimals)
            ratio = abs(a - b) / sigma if sigma > 0 else (0.0 if a == b else float("inf"))
            mark = " **" if ratio > 2 else ""
            cells.append(f"{b:.3f} / {a:.3f} ({ratio:.1f}){mark}")
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
