"""DLFD's monitoring schedule: every batch by default (the paper's), every k-th batch (and the last) on request."""

from __future__ import annotations

import math

import pytest

from unlearnkit.methods import METHODS


@pytest.mark.parametrize("every", [1, 3, 7])
def test_measures_every_kth_batch_and_the_last(every: int, tiny_original, make_task) -> None:
    d = METHODS["dlfd"](batch_size=4, monitor_every=every, monitor=10).unlearn(tiny_original, make_task()).diagnostics
    n = d["batches"]
    expected = [b for b in range(n) if (b + 1) % every == 0 or b == n - 1]
    assert d["measured_batches"] == expected
    assert len(d["fs_trajectory"]) == len(d["validation_acc_trajectory"]) == len(expected)
    if d["selected_batch"] is not None:
        assert d["selected_batch"] in expected


def test_default_schedule_measures_every_batch(tiny_original, make_task) -> None:
    task = make_task()
    d = METHODS["dlfd"](batch_size=4, monitor=10).unlearn(tiny_original, task).diagnostics
    assert d["batches_per_epoch"] == math.ceil(task.split.retain.size / 4) >= 20
    assert d["measured_batches"] == list(range(d["batches"]))
    assert d["resolved_params"]["monitor_every"] == 1
