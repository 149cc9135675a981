"""DLFD's monitoring schedule: every k-th batch (and the last), derived as 10-19 measurements a pass."""

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


def test_derived_schedule_measures_about_ten_times(tiny_original, make_task) -> None:
    task = make_task()
    d = METHODS["dlfd"](batch_size=4, monitor=10).unlearn(tiny_original, task).diagnostics
    assert d["batches_per_epoch"] == math.ceil(task.split.retain.size / 4) >= 20
    assert d["resolved_params"]["monitor_every"] == d["batches_per_epoch"] // 10 > 1
    assert 10 <= len(d["measured_batches"]) < 20
    short = METHODS["dlfd"](monitor=10).resolve(task)  # recipe batch 16: 6 batches, measured every batch
    assert short.monitor_every == 1


def test_per_batch_schedule_is_the_earlier_behaviour(tiny_original, make_task) -> None:
    every = METHODS["dlfd"](batch_size=4, monitor_every=1, monitor=10).unlearn(tiny_original, make_task()).diagnostics
    assert every["measured_batches"] == list(range(every["batches"]))
