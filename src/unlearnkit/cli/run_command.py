"""``unlearnkit run CONFIG.toml``: validate everything, then run what the store lacks."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.distributed import run_with_ray
from unlearnkit.experiment.runner import Runner
from unlearnkit.progress import RichProgress
from unlearnkit.report.build import load_report
from unlearnkit.report.markdown import to_markdown
from unlearnkit.store import SQLiteStore


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_store: str) -> None:
    parser = commands.add_parser("run", help="run the experiments of a TOML configuration")
    parser.add_argument("config", help="path to the TOML configuration")
    parser.add_argument("--store", default=default_store, help=f"SQLite store (default {default_store})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-run lines")
    parser.add_argument("--workers", type=int, help="run (experiment, seed) units in parallel as Ray tasks on this many CPUs")
    parser.add_argument("--ray-address", help="connect to an existing Ray cluster instead of starting a local one")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiments = load_config(args.config)  # raises ConfigError before anything is trained or written
    console = Console(highlight=False)
    store = SQLiteStore(args.store)
    log = (lambda message: None) if args.quiet else console.print
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    if args.workers is not None or args.ray_address:
        if args.workers is not None and args.workers < 1:
            raise UnlearnkitError(f"--workers must be at least 1; got {args.workers}")
        summary = run_with_ray(args.store, experiments, args.workers or 1, args.ray_address)
    else:
        with Progress(*columns, console=console, transient=True, disable=args.quiet) as bars:
            summary = Runner(store, progress=RichProgress(bars), log=log).run(experiments)
    console.print(f"{len(summary.executed)} run(s) executed, {len(summary.skipped)} already in {args.store}")
    report = load_report(store, [e.name for e in experiments])
    console.print(to_markdown(report.tables, report.population), markup=False)
    return 0
