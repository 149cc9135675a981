"""``unlearnkit report``: tables from the store (markdown, JSON, or a self-contained HTML page)."""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from unlearnkit.errors import UnlearnkitError
from unlearnkit.report.html import render_html
from unlearnkit.report.markdown import to_markdown
from unlearnkit.report.tables import summarise, to_records
from unlearnkit.store.sqlite import SQLiteStore


def add_parser(commands: argparse._SubParsersAction, default_store: str) -> None:
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
    store = SQLiteStore(args.store)
    if not store.exists():
        raise UnlearnkitError(f"no store at {args.store}; run `unlearnkit run CONFIG --store {args.store}` first")
    tables = summarise(store.runs())
    if args.experiment:
        unknown = sorted(set(args.experiment) - {t.experiment for t in tables})
        if unknown:
            raise UnlearnkitError(f"experiments {unknown} are not in the store; it has {[t.experiment for t in tables]}")
        tables = [t for t in tables if t.experiment in args.experiment]
    if args.format == "html":
        if not args.output:
            raise UnlearnkitError("--format html writes a file: give --output REPORT.html")
        names = {t.experiment for t in tables}
        text = render_html(store, tables, [r for r in store.runs() if r.experiment in names])
    elif args.format == "json":
        text = json.dumps([_finite(r) for r in to_records(tables)], indent=2) + "\n"
    else:
        text = to_markdown(tables)
    if args.output:
        # Write to a temporary file first so a failure never leaves half a report.
        temporary = args.output + ".partial"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, args.output)
    else:
        print(text, end="")
    return 0
