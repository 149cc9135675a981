"""Running a sweep's units of work, in this process or as Ray tasks; the driver alone writes the store.

A :class:`Job` is a unit of work (:mod:`.units`), the jobs whose results it
takes as inputs, the CPUs it declares, and what the driver does with its
result (``on_done``: write it to the store). An executor runs the jobs in
dependency order and calls ``on_done`` in the driver as each one finishes,
so a sweep killed at any moment keeps every result that was finished.

Failures: a unit that raises is run again, at most ``retries`` more times
(a worker that crashed, memory that ran out, a flaky file system); one that
still fails becomes a :class:`Failure` with its traceback, and the jobs that
needed its result are not run (a :class:`Failure` naming it); the other jobs
go on, and the caller records the failures and exits non-zero. A user error
(:class:`~unlearnkit.errors.UnlearnkitError`: bad input found only while
running, such as a stored checkpoint that does not fit the model) is not
retried (the same input fails the same way): no new work starts and the
error is raised, as for bad input found before anything ran.

:class:`LocalExecutor` (the default) needs no Ray; the Ray executor lives in
:mod:`.distributed`. Both run the same units with the same seeds, so with the
same number of threads per unit they give the same numbers.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from unlearnkit import faults
from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.units import WorkContext, one_line
from unlearnkit.progress import Progress

# A unit that raised runs at most this many more times by default.
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class Refused:
    """A unit's user error, returned instead of raised so that no executor retries it."""

    message: str
    traceback: str


@dataclass(eq=False)
class Job:
    """One unit of work in a sweep; ``inputs`` are jobs whose results the unit is called with, in order."""

    name: str  # shown in progress and failure messages, e.g. "tiny/finetune/seed 0"
    key: str  # what the job produces (a run key, a model key, a trial key): failures are recorded under it
    experiment: str
    unit: Callable[..., Any]
    inputs: tuple[Job, ...] = ()
    on_done: Callable[[Any], None] = field(default=lambda result: None)
    cpus: int = 1
    # Runs in the driver, never remotely, and is not retried (reading a cached model from the store):
    # its errors (a damaged store) stop the command.
    in_driver: bool = False


@dataclass(frozen=True)
class Failure:
    """A job that did not produce its result: why, with the traceback, after how many attempts."""

    job: str
    key: str
    experiment: str
    error: str  # one line
    traceback: str
    attempts: int
    blocked_by: str | None = None  # the failed job whose result this one needed (it was not run)


class Executor(Protocol):
    """Runs jobs (in dependency order; ``jobs`` lists every job after its inputs) and returns what failed."""

    def run(self, jobs: Sequence[Job], context: WorkContext, progress: Progress) -> list[Failure]: ...


def perform(unit: Callable[..., Any], name: str, context: WorkContext, inputs: Sequence[Any]) -> Any:
    """Call a unit where it runs: user errors come back as :class:`Refused`, anything else is raised (and retried)."""
    faults.reached("unit", name)
    try:
        return unit(context, *inputs)
    except UnlearnkitError as error:
        return Refused(str(error), traceback.format_exc())


def blocked(job: Job, by: Failure) -> Failure:
    return Failure(job.name, job.key, job.experiment, f"not run: it needs {by.job}, which failed", "", 0, by.job)


class UnitTraceback(Exception):  # noqa: N818 — not an error of its own: the text of another process's traceback
    """The traceback of a unit's user error, where the unit ran (shown under ``--debug``)."""


def refusal(job: Job, refused: Refused) -> UnlearnkitError:
    """The user error a unit returned, as an exception to raise in the driver (its traceback as the cause)."""
    error = UnlearnkitError(f"{job.name}: {refused.message}")
    error.__cause__ = UnitTraceback(refused.traceback)
    return error


def check_order(jobs: Sequence[Job]) -> None:
    seen: set[int] = set()
    for job in jobs:
        if any(id(dependency) not in seen for dependency in job.inputs):
            raise ValueError(f"job {job.name} is listed before one of its inputs")
        seen.add(id(job))


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` intra-op threads inside the block (unchanged when None)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LocalExecutor:
    """Every job in this process, one after another, in the order given."""

    def __init__(self, retries: int = DEFAULT_RETRIES, threads: int | None = None) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0; got {retries}")
        self.retries = retries
        self.threads = threads

    def run(self, jobs: Sequence[Job], context: WorkContext, progress: Progress) -> list[Failure]:
        check_order(jobs)
        uses = Counter(id(dependency) for job in jobs for dependency in job.inputs)
        results: dict[int, Any] = {}
        failed: dict[int, Failure] = {}
        failures: list[Failure] = []
        with torch_threads(self.threads), progress.task("sweep: units of work", len(jobs)) as bar:
            for job in jobs:
                cause = next((failed[id(d)] for d in job.inputs if id(d) in failed), None)
                if cause is not None:
                    failed[id(job)] = blocked(job, cause)
                else:
                    outcome = self._attempt(job, [results[id(d)] for d in job.inputs], context)
                    if isinstance(outcome, Failure):
                        failed[id(job)] = outcome
                    else:
                        job.on_done(outcome)
                        results[id(job)] = outcome
                if id(job) in failed:
                    failures.append(failed[id(job)])
                for dependency in job.inputs:  # free a result once every job that needs it has run
                    uses[id(dependency)] -= 1
                    if uses[id(dependency)] == 0:
                        results.pop(id(dependency), None)
                bar.advance()
        return failures

    def _attempt(self, job: Job, inputs: list[Any], context: WorkContext) -> Any:
        if job.in_driver:
            # The driver's own work (reading the store): its errors (a damaged store) stop the command.
            return job.unit(context, *inputs)
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                outcome = perform(job.unit, job.name, context, inputs)
            except Exception as error:  # noqa: BLE001 — any crash of a unit is retried, then recorded with its traceback
                if attempt == attempts:
                    return Failure(job.name, job.key, job.experiment, one_line(error), traceback.format_exc(), attempt)
                continue
            if isinstance(outcome, Refused):
                raise refusal(job, outcome)
            return outcome
        raise AssertionError("unreachable: the last attempt returns")
