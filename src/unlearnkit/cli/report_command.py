"""``unlearnkit report``: tables from the store (markdown or JSON)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from unlearnkit.errors import UnlearnkitError
from unlearnkit.report.tables import summarise, to_markdown, to_records
from unlearnkit.store.sqlite import SQLiteStore


def add_parser(commands: argparse._SubParsersAction, default_store: str) -> None:
    parser = commands.add_parser("report", help="summarise the runs in a store")
    parser.add_argument("--store", default=default_store, help=f"SQLite store (default {default_store})")
    parser.add_argument("--format", choices=["md", "json"], default="md")
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
    if args.format == "json":
        print(json.dumps([_finite(r) for r in to_records(tables)], indent=2))
    else:
        print(to_markdown(tables), end="")
    return 0
