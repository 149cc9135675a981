"""Test-only fault injection: die or fail on purpose at named points of a sweep.

Crash safety is a claim about what happens when a process dies at *any*
moment, so the tests make it die at chosen moments. Outside the tests the
environment variable is unset and :func:`reached` costs one dictionary
lookup.

``UNLEARNKIT_FAULT=POINT:ACTION:N:FOLDER`` (several separated by ``;``):

* ``POINT``: one of :data:`POINTS`, optionally ``POINT@TEXT`` to act only
  where ``TEXT`` occurs in the name of what is at work (a unit of work such
  as ``tiny/finetune/seed0``);
* ``ACTION``: ``kill`` sends SIGKILL to the process when the point is
  reached for the N-th time (1-based); ``raise`` raises :class:`InjectedFaultError`
  the first N times it is reached (a flaky unit: retried, then succeeds);
  ``always`` raises every time (a unit that can never succeed);
* ``FOLDER``: where reaches are counted, one empty file per reach, so that
  every process of a sweep (Ray workers, a re-run) shares one count.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

ENVIRONMENT_VARIABLE = "UNLEARNKIT_FAULT"

POINTS = {
    "unit": "a unit of work starts (training, unlearning, evaluating, a tuning trial)",
    "progress": "a long loop reports progress (an epoch of training, a step of unlearning)",
    "write": "inside a store write transaction, after its rows are inserted and before it commits",
    "written": "a store write transaction has committed",
}
ACTIONS = ("kill", "raise", "always")


class InjectedFaultError(RuntimeError):
    """The failure a ``raise`` or ``always`` fault injects (not a user error: retried like any crash)."""


@dataclass(frozen=True)
class Fault:
    point: str
    where: str
    action: str
    count: int
    folder: str

    @classmethod
    def parse(cls, text: str) -> Fault:
        point, action, count, folder = text.split(":", 3)
        point, _, where = point.partition("@")
        if point not in POINTS or action not in ACTIONS:
            raise ValueError(f"{ENVIRONMENT_VARIABLE}: unknown point or action in {text!r}; points {sorted(POINTS)}, actions {ACTIONS}")
        return cls(point, where, action, int(count), folder)

    def next_reach(self) -> int:
        """Record one more reach of the point; its number, from 1, over every process sharing the folder."""
        os.makedirs(self.folder, exist_ok=True)
        number = 1
        while True:
            try:
                # O_EXCL makes the claim atomic between processes.
                os.close(os.open(os.path.join(self.folder, f"{self.point}.{number}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return number
            except FileExistsError:
                number += 1


def configured() -> str | None:
    """The fault specification of this process (None outside fault-injection tests)."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or None


@contextmanager
def applied(spec: str | None) -> Iterator[None]:
    """Use the driver's specification inside a worker process that was started before it was set."""
    if spec is None or os.environ.get(ENVIRONMENT_VARIABLE) == spec:
        yield
        return
    before = os.environ.get(ENVIRONMENT_VARIABLE)
    os.environ[ENVIRONMENT_VARIABLE] = spec
    try:
        yield
    finally:
        if before is None:
            del os.environ[ENVIRONMENT_VARIABLE]
        else:
            os.environ[ENVIRONMENT_VARIABLE] = before


def reached(point: str, where: str = "") -> None:
    """Mark ``point`` as reached (by ``where``); act if a fault for it is configured in the environment."""
    spec = configured()
    if spec is None:
        return
    for text in spec.split(";"):
        fault = Fault.parse(text)
        if fault.point != point or fault.where not in where:
            continue
        if fault.action == "always":
            raise InjectedFaultError(f"injected failure at {point!r}")
        number = fault.next_reach()
        if fault.action == "kill" and number == fault.count:
            os.kill(os.getpid(), signal.SIGKILL)
        if fault.action == "raise" and number <= fault.count:
            raise InjectedFaultError(f"injected failure at {point!r} (reach {number} of the first {fault.count})")
