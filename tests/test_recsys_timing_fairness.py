"""Fair timing in a recommendation run (issue 14): no reported time depends on the order of methods.

Wall time cannot be asserted in a test, so ``time.perf_counter`` is replaced
by a counter that advances only when work is charged to it: the first scoring
pass of the run costs 1,000 units (a process's lazy initialisation), every
later scoring pass 1 unit, and every build of the training index (the
influence methods' set-up) 10 units. Each run starts a fresh "process" (the
first-pass charge is armed again). The same experiment then runs with its
methods in one order and in the reverse order: every method must report the
same time in both, ``original_rec`` must report none (no warm-up or other
first-call cost lands in its timed call), and each influence call must pay
its own set-up once (``setup_seconds`` = 10 units in both positions). A
control run with a cache that shares the set-up between methods (a plausible
"optimisation") shows that the comparison catches order dependence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unlearnkit.cli.main import main
from unlearnkit.data.recsys import InteractionData
from unlearnkit.methods.recsys.neighbourhood import TrainingIndex
from unlearnkit.models.recsys import Recommender
from unlearnkit.store import SQLiteStore

HEAD = """
[[experiment]]
kind = "recommendation"
name = "timing"
seeds = [0]
dataset = { name = "synthetic_interactions", n_users = 40, n_items = 30, n_rows = 600, signal = 8.0 }
forget = { name = "users", n_users = 1 }
model = { name = "mf", dim = 4 }
train = { epochs = 10, batch_size = 128, lr = 5e-2, l2 = 1e-3, patience = 3 }
metrics = ["test_auc", "wall_time"]
"""
METHODS = ("original_rec", "ifru", "scif")
FIRST_PASS, LATER_PASS, SETUP = 1000.0, 1.0, 10.0


class WorkClock:
    """A stand-in for ``time.perf_counter`` that advances only by charged work."""

    def __init__(self) -> None:
        self.now = 0.0
        self.first_pass_pending = True

    def __call__(self) -> float:
        return self.now

    def scoring_pass(self) -> None:
        self.now += FIRST_PASS if self.first_pass_pending else LATER_PASS
        self.first_pass_pending = False


def run_times(
    tmp_path: Path, name: str, order: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, share_setup: bool = False
) -> dict[str, Any]:
    clock = WorkClock()
    score, build = Recommender.score, TrainingIndex.build.__func__
    shared: dict[int, TrainingIndex] = {}

    def charged_score(self: Recommender, *args: Any) -> Any:
        clock.scoring_pass()
        return score(self, *args)

    def charged_build(cls: type[TrainingIndex], data: InteractionData, train: np.ndarray) -> TrainingIndex:
        if share_setup and id(data) in shared:
            return shared[id(data)]
        clock.now += SETUP
        shared[id(data)] = build(cls, data, train)
        return shared[id(data)]

    monkeypatch.setattr(time, "perf_counter", clock)
    monkeypatch.setattr(Recommender, "score", charged_score)
    monkeypatch.setattr(TrainingIndex, "build", classmethod(charged_build))
    config = tmp_path / f"{name}.toml"
    config.write_text(HEAD + "".join(f'\n[[experiment.methods]]\nname = "{method}"\n' for method in order))
    store_path = str(tmp_path / f"{name}.sqlite")
    try:
        assert main(["run", str(config), "--store", store_path, "--quiet"]) == 0
    finally:
        monkeypatch.undo()
    return {run.label: run for run in SQLiteStore(store_path).runs()}


def times(runs: dict[str, Any]) -> dict[str, float]:
    return {label: run.seconds for label, run in runs.items()}


def test_reported_times_do_not_depend_on_method_order_and_original_carries_no_warm_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forward = run_times(tmp_path, "forward", METHODS, monkeypatch)
    backward = run_times(tmp_path, "backward", tuple(reversed(METHODS)), monkeypatch)
    assert set(forward) == set(backward) == set(METHODS)
    assert times(forward) == times(backward)
    assert forward["original_rec"].seconds == 0.0  # no warm-up, first pass or set-up inside its timed call
    for method in ("ifru", "scif"):
        for runs in (forward, backward):
            # every call builds its own set-up, once, inside its timed call, and reports it apart
            assert runs[method].diagnostics["setup_seconds"] == SETUP
            assert SETUP <= runs[method].seconds < FIRST_PASS


def test_the_order_check_catches_a_set_up_shared_between_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fair = run_times(tmp_path, "fair", METHODS, monkeypatch)
    leaky = run_times(tmp_path, "leaky", METHODS, monkeypatch, share_setup=True)
    leaky_reversed = run_times(tmp_path, "leaky_reversed", tuple(reversed(METHODS)), monkeypatch, share_setup=True)
    # with a shared set-up, whichever influence method runs second is reported 10 units faster
    assert leaky["ifru"].seconds == fair["ifru"].seconds
    assert leaky["scif"].seconds == fair["scif"].seconds - SETUP
    assert leaky_reversed["ifru"].seconds == fair["ifru"].seconds - SETUP
    assert times(leaky) != times(leaky_reversed)

