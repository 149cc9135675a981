"""Every shipped benchmark configuration validates and resolves (without loading data or training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import resolve
from unlearnkit.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*ROOT.glob("benchmarks/*.toml"), *ROOT.glob("benchmarks/tuning/*.toml"), *ROOT.glob("examples/*.toml")])
IMAGE_SUITE = ["photos_orl", "person_orl", "fmnist_random", "fmnist_class"]


def test_the_configs_are_found() -> None:
    assert {p.stem for p in CONFIGS} >= {*IMAGE_SUITE, "quickstart", "ml100k_ifru"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmark_config_resolves(path: Path) -> None:
    for experiment in load_config(str(path)):
        kind, resolved = resolve(experiment)
        assert kind.name == experiment.kind
        assert [label for label, _ in resolved.methods] == [m.display_name for m in experiment.methods]


@pytest.mark.parametrize("name", IMAGE_SUITE)
def test_image_benchmarks_run_every_image_method_against_retrain(name: str) -> None:
    (experiment,) = load_config(str(ROOT / "benchmarks" / f"{name}.toml"))
    names = {m.name for m in experiment.methods}
    image_methods = {n for n, cls in METHODS.items() if "classification" in cls.task_kinds}
    assert names == image_methods
    assert len(experiment.seeds) == 3
