"""``unlearnkit report``: tables from the store (markdown, JSON, or a self-contained HTML page).

The JSON report is a list: one record per (experiment, method), then one per chain of deletion requests
(``"section": "deletion requests"``) when the store holds any.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict
from typing import Any

from unlearnkit.cli.files import check_output_path, write_atomically
from unlearnkit.errors import UnlearnkitError
from unlearnkit.report.build import load_report
from unlearnkit.report.goals import goal_warnings
from unlearnkit.report.html import render_html
from unlearnkit.report.markdown import to_markdown
from unlearnkit.report.population import population_records
from unlearnkit.report.requests import requests_records
from unlearnkit.report.tables import to_records
from unlearnkit.store import StoreReader


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_store: str) -> None:
    parser = commands.add_parser("report", help="summarise the runs in a store")
    parser.add_argument("--store", default=default_store, help=f"SQLite store (default {default_store})")
    parser.add_argument("--format", choices=["md", "json", "html"], default="md")
    parser.add_argument("--output", help="write to this file instead of standard output (required for html)")
    parser.add_argument("--experiment", action="append", help="only these experiments (repeatable)")
    parser.set_defaults(handler=run)


def _finite(value: Any) -> Any:
    """JSON has no infinity: a zero-time method's speed-up is written as the string "inf"."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def run(args: argparse.Namespace) -> int:
    if not os.path.lexists(args.store):
        raise UnlearnkitError(f"no store at {args.store}; run `unlearnkit run CONFIG --store {args.store}` first")
    if args.format == "html" and not args.output:
        raise UnlearnkitError("--format html writes a file: give --output REPORT.html")
    if args.output:
        check_output_path(args.output)
    store = StoreReader(args.store)  # read-only: a report never changes the store it reads
    report = load_report(store, args.experiment)
    if args.format == "html":
        text = render_html(store, report)
    elif args.format == "json":
        records = [_finite(r) for r in to_records(report.tables)]
        warnings = {t.experiment: goal_warnings(t) for t in report.tables}
        for record in records:
            record["goal_warnings"] = warnings[record["experiment"]]
        population = {(p["experiment"], p["method"]): p for p in population_records(report.population)}
        for record in records:
            entry = population.get((record["experiment"], record["method"]))
            if entry is not None:
                record["population_metrics"] = entry["population_metrics"]
                record["population_note"] = entry["note"]
                record["population_goal_warnings"] = entry["goal_warnings"]
        for record in records:  # only where something failed: a clean report keeps its shape
            prefix = f"{record['experiment']}/{record['method']}/"
            failed = [asdict(f) for f in report.failures if f.unit.startswith(prefix)]
            if failed:
                record["failures"] = failed
        # A method none of whose runs finished has no row: its failures still get a record.
        listed = {(r["experiment"], r["method"]) for r in records}
        for failure in report.failures:
            experiment, label = failure.unit.split("/")[:2]
            if failure.experiment == experiment and (experiment, label) not in listed and not label.startswith(("train ", "reference ")):
                listed.add((experiment, label))
                prefix = f"{experiment}/{label}/"
                failed = [asdict(f) for f in report.failures if f.unit.startswith(prefix)]
                records.append({"experiment": experiment, "method": label, "seeds": [], "metrics": {}, "failures": failed})
        records += requests_records(report.requests)  # one record per chain of deletion requests, after the experiments'
        text = json.dumps(records, indent=2) + "\n"
    else:
        text = to_markdown(report.tables, report.population, report.failures, report.requests, report.similar)
    if args.output:
        write_atomically(args.output, text)
    else:
        print(text, end="")
    return 0
