"""``unlearnkit run CONFIG.toml``: validate everything, then run what the store lacks.

The report (Markdown) goes to standard output; progress, per-run lines, the
per-method summary and failures go to standard error.
"""

from __future__ import annotations

import argparse
from collections import Counter

from rich.console import Console

from unlearnkit.cli import execution
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import Runner
from unlearnkit.experiment.sweep import RunSummary
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.report.build import load_report
from unlearnkit.report.markdown import to_markdown
from unlearnkit.store import SQLiteStore


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_store: str) -> None:
    parser = commands.add_parser("run", help="run the experiments of a TOML configuration")
    parser.add_argument("config", help="path to the TOML configuration")
    parser.add_argument("--store", default=default_store, help=f"SQLite store (default {default_store})")
    execution.add_options(parser)
    parser.set_defaults(handler=run)


def method_lines(experiments: list[ExperimentFields], summary: RunSummary, store: SQLiteStore) -> list[str]:
    """One line per (experiment, method): runs done now, found stored, failed, and the mean time of its current runs."""
    def label_of(name: str) -> str:
        return name.rsplit("/", 1)[0]

    executed, skipped = Counter(map(label_of, summary.executed)), Counter(map(label_of, summary.skipped))
    failed = Counter(label_of(f.job) for f in summary.failures)
    seconds: dict[str, list[float]] = {}
    for record in store.current_runs() if store.exists() else []:
        seconds.setdefault(f"{record.experiment}/{record.label}", []).append(record.seconds)
    lines = []
    for experiment in experiments:
        for method in experiment.methods:
            name = f"{experiment.name}/{method.display_name}"
            times = seconds.get(name, [])
            line = f"{name}: {len(times)} of {len(experiment.seeds)} seed(s) stored ({executed[name]} new, {skipped[name]} already)"
            if failed[name]:
                line += f", {failed[name]} failed"
            if times:
                line += f"; mean {sum(times) / len(times):.3g} s"
            lines.append(line)
    return lines


def run(args: argparse.Namespace) -> int:
    experiments = load_config(args.config)  # raises ConfigError before anything is trained or written
    console = execution.diagnostics_console(args)
    store = SQLiteStore(args.store)
    log = (lambda message: None) if args.quiet else (lambda message: console.print(message, markup=False))
    with execution.execution(args, console) as how:
        runner = Runner(store, progress=how.progress, log=log, executor=how.executor, cpus_per_unit=how.cpus_per_unit)
        summary = runner.run(experiments)
    status = Console(stderr=True, highlight=False, soft_wrap=True)  # the summary is shown even with --quiet
    status.print(
        f"{len(summary.executed)} run(s) executed, {len(summary.skipped)} already in {args.store}"
        + (f", {len(summary.failures)} unit(s) failed" if summary.failures else "")
        + f"; {len(summary.trained)} model(s) trained from scratch (units of work {how.where})",
        markup=False,
    )
    for line in method_lines(experiments, summary, store):
        status.print(line, markup=False)
    present = {r.experiment for r in store.current_runs()} | {f.experiment for f in store.failures("run")} if store.exists() else set()
    shown = [e.name for e in experiments if e.name in present]
    if shown:
        report = load_report(store, shown)
        print(to_markdown(report.tables, report.population, report.failures), end="")
    if summary.failures:
        execution.report_failures(status, summary.failures, summary.units)
        if args.debug:
            execution.print_tracebacks(summary.failures)
        return 1
    return 0
