"""The utility-vs-forgetting scatter: labels never overlap, error bars of proportions stay within [0, 1]."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection

from unlearnkit.report.html import metric_bounds
from unlearnkit.report.plots import bounded_error, quality_vs_time, utility_vs_forgetting
from unlearnkit.report.tables import ExperimentTable, MethodRow
from unlearnkit.store import RunRecord

METRICS = ["test_acc", "forget_acc"]
INFO = {"test_acc": {"direction": "higher", "notion": "utility"}, "forget_acc": {"direction": "reference", "notion": "untraining"}}


def row(label: str, test: float, forget: float, std: float = 0.0, reference: bool = False) -> MethodRow:
    return MethodRow(label, label, [0, 1], {"test_acc": test, "forget_acc": forget}, dict.fromkeys(METRICS, std), reference)


# The quickstart's table: 'original' and 'finetune' score the same; neggrad's spread would cross 0 and 1.
TABLE = ExperimentTable(
    "quickstart",
    "untraining",
    METRICS,
    INFO,
    [
        row("retrain", 0.94, 0.0, 0.012, reference=True),
        row("original", 0.97, 1.0, 0.006),
        row("finetune", 0.97, 1.0, 0.006),
        row("neggrad", 0.543, 0.02, 0.6),
        row("neggrad_plus", 0.795, 0.03, 0.169),
        row("random_label", 0.859, 0.0, 0.006),
    ],
)
PROPORTIONS = {"test_acc": (0.0, 1.0), "forget_acc": (0.0, 1.0)}


def test_no_two_labels_overlap_and_coinciding_methods_share_one() -> None:
    figure = utility_vs_forgetting(TABLE, "test_acc", "forget_acc", PROPORTIONS)
    (axes,) = figure.axes
    labels = [text.get_text() for text in axes.texts]
    assert "original = finetune" in labels
    assert sorted(labels) == sorted(["retrain", "original = finetune", "neggrad", "neggrad_plus", "random_label"])
    renderer = FigureCanvasAgg(figure).get_renderer()
    boxes = [text.get_window_extent(renderer) for text in axes.texts]
    for first, second in itertools.combinations(range(len(boxes)), 2):
        assert not boxes[first].overlaps(boxes[second]), (labels[first], labels[second])


def test_error_bars_of_proportions_stay_within_zero_and_one() -> None:
    figure = utility_vs_forgetting(TABLE, "test_acc", "forget_acc", PROPORTIONS)
    (axes,) = figure.axes
    segments = [
        point for collection in axes.collections if isinstance(collection, LineCollection) for s in collection.get_segments() for point in s
    ]
    assert segments
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in segments)
    # unbounded metrics keep their whole ±std bar
    unbounded = utility_vs_forgetting(TABLE, "test_acc", "forget_acc")
    points = [p for c in unbounded.axes[0].collections if isinstance(c, LineCollection) for s in c.get_segments() for p in s]
    assert min(y for _, y in points) < 0.0


def test_bounded_error_cuts_only_the_side_that_crosses_a_bound() -> None:
    assert bounded_error(0.97, 0.1, (0.0, 1.0)) == pytest.approx((0.1, 0.03))
    assert bounded_error(0.5, 0.1, (0.0, 1.0)) == pytest.approx((0.1, 0.1))
    assert bounded_error(0.02, 0.6, (0.0, 1.0)) == pytest.approx((0.02, 0.6))
    assert bounded_error(0.5, float("nan"), (0.0, 1.0)) == (0.0, 0.0)


def _run(value: float) -> RunRecord:
    return RunRecord(
        run_key="k",
        experiment="e",
        experiment_position=0,
        kind="classification",
        method="M",
        label="m",
        role="method",
        method_position=0,
        seed=0,
        goal="untraining",
        seconds=1.0,
        peak_memory_mib=None,
        metrics={"test_acc": value, "avg_gap": 12.0},
        metric_info={},
        diagnostics={},
        config={},
        reference_key="r",
        version="0",
    )


def test_only_metrics_every_run_scored_within_zero_and_one_are_bounded() -> None:
    assert metric_bounds([_run(0.2), _run(1.0)], ("test_acc", "avg_gap")) == {"test_acc": (0.0, 1.0)}


def test_quality_vs_time_puts_each_method_at_its_time_fraction_and_share_closed() -> None:
    metrics = ["gap_closed", "time_fraction"]
    info = {"gap_closed": {"direction": "higher", "notion": "untraining"}, "time_fraction": {"direction": "lower", "notion": "efficiency"}}

    def frontier_row(label: str, closed: float, fraction: float | None, reference: bool = False) -> MethodRow:
        mean = {"gap_closed": closed} if fraction is None else {"gap_closed": closed, "time_fraction": fraction}
        return MethodRow(label, label, [0, 1], mean, dict.fromkeys(mean, 0.05), reference)

    table = ExperimentTable(
        "frontier",
        "untraining",
        metrics,
        info,
        [
            frontier_row("retrain", 1.0, 1.0, reference=True),
            frontier_row("original", 0.0, None),  # no time fraction: not on the plot
            frontier_row("fast", 0.82, 0.048),
            frontier_row("slow", 0.99, 0.4),
        ],
    )
    figure = quality_vs_time(table)
    (axes,) = figure.axes
    assert axes.get_xscale() == "log"
    labels = {text.get_text(): text.xy for text in axes.texts}
    assert set(labels) == {"retrain", "fast", "slow"}
    assert labels["fast"] == pytest.approx((0.048, 0.82)) and labels["slow"] == pytest.approx((0.4, 0.99))
    top = max(point[1] for c in axes.collections if isinstance(c, LineCollection) for s in c.get_segments() for point in s)
    assert top == pytest.approx(1.0)  # a share closed's error bar stops at 1
