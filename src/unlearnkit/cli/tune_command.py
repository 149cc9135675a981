"""``unlearnkit tune CONFIG.toml``: choose hyper-parameters on validation data, print recipes.

By default settings are scored against a model retrained on the tuning
seed; ``--oracle-free`` scores them without any retrained model (see
:mod:`unlearnkit.metrics.oracle_free`).

The recipes (TOML) go to standard output or ``--output``; the trials, the
table of selected settings, progress and failures go to standard error.
"""

from __future__ import annotations

import argparse

from rich.table import Table
from rich.text import Text

from unlearnkit.cli import execution
from unlearnkit.cli.files import check_output_path, write_atomically
from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import Runner
from unlearnkit.experiment.sweep import RunSummary
from unlearnkit.experiment.tuning import recipes_toml, tune_experiment
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, check_tolerance
from unlearnkit.store import SQLiteStore


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_store: str) -> None:
    parser = commands.add_parser("tune", help="select method hyper-parameters without test data")
    parser.add_argument("config", help="path to the TOML configuration")
    parser.add_argument("--store", default=default_store, help="store whose model cache is used")
    parser.add_argument("--budget", type=int, default=6, help="candidate settings per method (default 6)")
    parser.add_argument(
        "--tuning-seed",
        type=int,
        action="append",
        help="seed of a tuning run, repeatable (gaps are averaged over them); never an evaluation seed (default 1000)",
    )
    parser.add_argument("--method", action="append", help="only these method labels (repeatable)")
    parser.add_argument(
        "--max-time-fraction",
        type=float,
        help="only select settings that ran in at most this fraction of retraining's wall time (e.g. 0.1); "
        "with --oracle-free, of the original's training time",
    )
    parser.add_argument(
        "--oracle-free",
        action="store_true",
        help="select without any retrained model: forget-set losses indistinguishable from never-trained samples of "
        "their distribution, utility kept, time (no reference is trained or loaded)",
    )
    parser.add_argument(
        "--utility-tolerance",
        type=float,
        help=f"with --oracle-free: share of the original's validation accuracy (AUC for recommenders) a setting may lose "
        f"and stay selectable, beyond two standard errors of the measured drop (default {DEFAULT_TOLERANCE})",
    )
    parser.add_argument("--output", help="write the selected recipes (TOML) to this file")
    execution.add_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiments = load_config(args.config)
    tuning_seeds = args.tuning_seed or [1000]
    if len(set(tuning_seeds)) != len(tuning_seeds):
        raise UnlearnkitError(f"--tuning-seed values must be distinct; got {tuning_seeds}")
    if args.budget < 1:
        raise UnlearnkitError(f"--budget must be at least 1; got {args.budget}")
    if args.max_time_fraction is not None and not args.max_time_fraction > 0:
        raise UnlearnkitError(f"--max-time-fraction must be a positive number; got {args.max_time_fraction}")
    if args.utility_tolerance is not None and not args.oracle_free:
        raise UnlearnkitError("--utility-tolerance applies only with --oracle-free")
    tolerance = check_tolerance(DEFAULT_TOLERANCE if args.utility_tolerance is None else args.utility_tolerance, "--utility-tolerance")
    for experiment in experiments:
        for seed in tuning_seeds:
            if seed in experiment.seeds:
                raise UnlearnkitError(f"--tuning-seed {seed} is an evaluation seed of {experiment.name!r}; choose another")
    if args.output:
        check_output_path(args.output)
    console = execution.diagnostics_console(args)
    store = SQLiteStore(args.store)
    recipes = []
    summary = RunSummary()
    with execution.execution(args, console) as how:
        runner = Runner(store, progress=how.progress, executor=how.executor, cpus_per_unit=how.cpus_per_unit)
        for plan in runner.plan_all(experiments):
            experiment = plan.resolved.config
            tunings = tune_experiment(
                runner,
                plan,
                budget=args.budget,
                tuning_seeds=tuning_seeds,
                only=args.method,
                max_time_fraction=args.max_time_fraction,
                log=lambda message: console.print(message, markup=False),
                summary=summary,
                oracle_free=args.oracle_free,
                tolerance=tolerance,
            )
            title = "oracle-free score (no retrained model)" if args.oracle_free else "selection gap to retrain (validation-based, points)"
            table = Table(title=f"{experiment.name}: {title}", title_justify="left")
            for column in ("method", "best", "default", "seconds", "selected parameters"):
                table.add_column(column)
            for tuning in tunings:
                best = tuning.best
                if best is None:
                    table.add_row(Text(tuning.label), "none selectable", f"{tuning.trials[0][1]:.3g}", "-", "configured recipe kept")
                    continue
                params, gap, seconds = best
                table.add_row(Text(tuning.label), f"{gap:.3g}", f"{tuning.trials[0][1]:.3g}", f"{seconds:.1f}", Text(str(params)))
            console.print(table)
            recipes.append(recipes_toml(experiment.name, tunings))
    if summary.failures:
        # A crashed trial counts as unusable above; recipes chosen without it could be wrong, so none are written.
        execution.report_failures(console, summary.failures, summary.units)
        if args.debug:
            execution.print_tracebacks(summary.failures)
        console.print("No recipes were written: re-run the command to retry the failed trials.", markup=False)
        return 1
    text = "\n".join(recipes)
    if args.output:
        write_atomically(args.output, text)
    else:
        print(text)
    return 0
