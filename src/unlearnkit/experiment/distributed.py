"""Scale-out through Ray: every unit of work is a Ray task, on local workers or an existing cluster.

:func:`ray_session` starts a local Ray with ``workers`` CPUs, or joins the
cluster at ``address`` (``"auto"``, ``HOST:PORT``, ``ray://HOST:PORT``),
and yields a :class:`RayExecutor`. Each task declares the CPUs it needs
(``num_cpus``) and uses that many PyTorch threads; a worker process rebuilds
an experiment's data and split from its configuration once and checks that
it got what the driver has (:meth:`~.units.PlanCache.plan`). Tasks return
model states, records and outputs through Ray's object store; only the
driver writes the store, so it can live on the driver's disk alone.

On a cluster, every node needs this unlearnkit version and the data files
(``scripts/setup.sh``); a task on a node with another version is refused.
Ray is an optional dependency (``pip install 'unlearnkit[ray]'``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from unlearnkit import faults
from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.executor import DEFAULT_RETRIES, Failure, Job, Refused, blocked, check_order, perform, refusal
from unlearnkit.experiment.units import WorkContext, one_line
from unlearnkit.progress import Progress
from unlearnkit.version import __version__

# One per Ray worker process, made by its first task: a worker runs many tasks, and
# preparing an experiment's data for each of them would cost a dataset load every time.
_worker_context: WorkContext | None = None


def _context() -> WorkContext:
    global _worker_context  # the worker process's own cache (see above)
    if _worker_context is None:
        _worker_context = WorkContext()
    return _worker_context


def execute_remotely(unit: Any, name: str, cpus: int, version: str, fault: str | None, *inputs: Any) -> Any:
    """The body of every Ray task: run one unit in this worker process (``fault``: the driver's test-only fault injection)."""
    if version != __version__:
        return Refused(f"this Ray worker runs unlearnkit {__version__}, the driver {version}; install the same version on every node", "")
    if any(isinstance(value, Refused) for value in inputs):
        return Refused("an input of this unit failed", "")
    torch.set_num_threads(cpus)  # a worker process of its own: its thread pool is ours to size
    with faults.applied(fault):
        return perform(unit, name, _context(), inputs)


class RayExecutor:
    """Every job a Ray task (jobs run in the driver excepted); results written by the driver as tasks finish."""

    def __init__(self, retries: int = DEFAULT_RETRIES) -> None:
        import ray

        self.retries = retries
        self._ray = ray
        self._remote = ray.remote(execute_remotely)

    def run(self, jobs: Sequence[Job], context: WorkContext, progress: Progress) -> list[Failure]:
        ray = self._ray
        check_order(jobs)
        uses = Counter(id(dependency) for job in jobs for dependency in job.inputs)
        refs: dict[int, Any] = {}
        pending: dict[Any, Job] = {}
        failed: dict[int, Failure] = {}
        failures: list[Failure] = []
        with progress.task("sweep: Ray tasks", len(jobs)) as bar:

            def settle(ref: Any) -> None:
                job = pending.pop(ref)
                for dependency in job.inputs:  # an input's failure is recorded before its dependants'
                    if refs.get(id(dependency)) in pending:
                        settle(refs[id(dependency)])
                cause = next((failed[id(d)] for d in job.inputs if id(d) in failed), None)
                failure: Failure | None = blocked(job, cause) if cause is not None else None
                if failure is None:
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        reason = getattr(error, "cause", None) or error
                        failure = Failure(job.name, job.key, job.experiment, one_line(reason), str(error), self.retries + 1)
                    else:
                        if isinstance(outcome, Refused):
                            for other in pending:  # bad input: no new work starts (see executor)
                                ray.cancel(other)
                            raise refusal(job, outcome)
                        job.on_done(outcome)
                if failure is not None:
                    failed[id(job)] = failure
                    failures.append(failure)
                for dependency in job.inputs:
                    uses[id(dependency)] -= 1
                    if uses[id(dependency)] == 0:
                        refs.pop(id(dependency), None)  # the object store may drop a result nobody needs any more
                bar.advance()

            for job in jobs:
                if job.in_driver:
                    refs[id(job)] = ray.put(job.unit(context, *[ray.get(refs[id(d)]) for d in job.inputs]))
                    bar.advance()
                    continue
                options = {"num_cpus": job.cpus, "max_retries": self.retries, "retry_exceptions": True, "name": job.name}
                inputs = [refs[id(d)] for d in job.inputs]
                ref = self._remote.options(**options).remote(job.unit, job.name, job.cpus, __version__, faults.configured(), *inputs)
                refs[id(job)] = ref
                pending[ref] = job
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                settle(ready[0])
        return failures


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


@contextmanager
def ray_session(*, workers: int | None = None, address: str | None = None, retries: int = DEFAULT_RETRIES) -> Iterator[RayExecutor]:
    """A Ray executor on ``workers`` local CPUs, or on the cluster at ``address``; Ray is stopped (or left) afterwards.

    When Ray is already initialised in this process (by the caller), that session is used and left running.
    """
    if not ray_available():
        raise UnlearnkitError("--workers and --address need Ray: pip install 'unlearnkit[ray]'")
    if workers is not None and address is not None:
        raise UnlearnkitError(f"give either --workers (start a local Ray) or --address (join a cluster); got both ({workers}, {address!r})")
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address is not None:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            else:
                # address="local": start one even when RAY_ADDRESS points at a cluster (--workers says "here").
                ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address!r}" if address is not None else f"a local Ray with {workers} CPUs"
            hint = ""
            if address is not None and os.environ.get("RAY_AUTH_MODE") != "token":
                hint = " (a cluster started with `ray start` uses token authentication: set RAY_AUTH_MODE=token)"
            raise UnlearnkitError(f"cannot start or join {where}: {one_line(error)}{hint}") from error
    try:
        yield RayExecutor(retries)
    finally:
        if started_here:
            ray.shutdown()
