"""Options shared by the commands that run sweeps (``run``, ``tune``): where the work runs and how it is shown.

The default executes every unit of work in this process (no Ray needed).
``--workers N`` starts a local Ray with N CPUs; ``--address ADDR`` (or the
``RAY_ADDRESS`` environment variable) joins an existing cluster. Progress
goes to standard error, and only when it is a terminal and ``--quiet`` is
not given; results go to standard output.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichBars

from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.distributed import ray_session
from unlearnkit.experiment.executor import DEFAULT_RETRIES, Executor, Failure, LocalExecutor
from unlearnkit.progress import Progress, RichProgress, SilentProgress


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0; got {value}")
    return value


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-run lines")
    parser.add_argument("--workers", type=positive_int, help="start a local Ray with this many CPUs and run every unit of work as a task")
    parser.add_argument(
        "--address",
        "--ray-address",
        dest="address",
        help="join the Ray cluster at this address ('auto', HOST:PORT; default: $RAY_ADDRESS unless --workers is given, else no Ray)",
    )
    parser.add_argument(
        "--cpus-per-unit",
        type=positive_int,
        help="CPUs (= PyTorch threads) each unit of work declares and uses (Ray default 1; locally, PyTorch's default)",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=DEFAULT_RETRIES,
        help=f"run a unit of work that crashed at most this many more times (default {DEFAULT_RETRIES})",
    )


@dataclass
class Execution:
    executor: Executor
    progress: Progress
    cpus_per_unit: int
    where: str  # "in this process", "on 2 local Ray workers", "on the Ray cluster at ..."


def diagnostics_console(args: argparse.Namespace) -> Console:
    """Logs, progress and summaries: standard error, never wrapped (long lines stay one line in a log file)."""
    return Console(stderr=True, highlight=False, soft_wrap=True, quiet=bool(args.quiet))


@contextmanager
def execution(args: argparse.Namespace, console: Console) -> Iterator[Execution]:
    """The executor the options ask for, and progress bars when they can be seen."""
    show_bars = not args.quiet and console.is_terminal and not console.is_dumb_terminal
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()
    )
    if args.workers is not None and args.address is not None:
        raise UnlearnkitError(
            f"give either --workers (start a local Ray) or --address (join a cluster); got both ({args.workers}, {args.address!r})"
        )
    address = args.address
    if address is None and args.workers is None:  # --workers says "here": a RAY_ADDRESS in the environment is then ignored
        address = os.environ.get("RAY_ADDRESS") or None
    with RichBars(*columns, console=console, transient=True, disable=not show_bars) as bars:
        progress: Progress = RichProgress(bars) if show_bars else SilentProgress()
        if args.workers is None and address is None:
            yield Execution(LocalExecutor(args.retries, args.cpus_per_unit), progress, args.cpus_per_unit or 1, "in this process")
            return
        where = f"on {args.workers} local Ray worker CPU(s)" if args.workers is not None else f"on the Ray cluster at {address}"
        with ray_session(workers=args.workers, address=address, retries=args.retries) as executor:
            yield Execution(executor, progress, args.cpus_per_unit or 1, where)


def report_failures(console: Console, failures: list[Failure], total: int) -> None:
    """One line per failed unit of work (blocked ones summarised), and what to do next."""
    crashed = [f for f in failures if f.blocked_by is None]
    waiting = [f for f in failures if f.blocked_by is not None]
    console.print(f"error: {len(crashed)} of {total} unit(s) of work failed:", style="bold red", markup=False, highlight=False)
    for failure in crashed:
        console.print(f"  {failure.job}: {failure.error} (after {failure.attempts} attempt(s))", markup=False)
    if waiting:
        console.print(f"  {len(waiting)} more could not run without their results", markup=False)
    console.print(
        "Their tracebacks are stored with the runs (`unlearnkit report` lists them; --debug shows them here). "
        "Re-running the command computes only what is missing.",
        markup=False,
    )


def print_tracebacks(failures: list[Failure]) -> None:
    for failure in failures:
        if failure.traceback:
            print(f"--- {failure.job}\n{failure.traceback}", file=sys.stderr)

