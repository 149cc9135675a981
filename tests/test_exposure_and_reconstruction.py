"""Exposure formulas (rank and skew-normal estimators), model inversion, SSIM and the reconstruction grid."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import torch
from scipy.stats import skewnorm
from torchmetrics.functional.image import structural_similarity_index_measure

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics import exposure, reconstruction
from unlearnkit.metrics.exposure import (
    exposure_from_rank,
    rank_among,
    sampled_exposure,
    skew_normal_exposure,
)
from unlearnkit.metrics.reconstruction import (
    ModelInversion,
    PixelRange,
    reconstruction_grid,
    save_reconstruction_grid,
    ssim,
)


def test_rank_one_of_1024_is_ten_bits() -> None:
    assert exposure_from_rank(1, 1024) == 10.0
    assert exposure_from_rank(1024, 1024) == 0.0
    assert exposure_from_rank(256, 1024) == 2.0
    # the canary beats all 1023 sampled candidates: rank 1 of 1024
    assert sampled_exposure(0.5, np.arange(1, 1024, dtype=float)) == 10.0


def test_rank_counts_ties_against_the_canary() -> None:
    assert rank_among(2.0, [1.0, 2.0, 3.0]) == 3  # itself, the better one and the tie
    assert rank_among(0.0, [1.0, 2.0, 3.0]) == 1
    assert sampled_exposure(2.0, [1.0, 2.0, 3.0]) == pytest.approx(math.log2(4) - math.log2(3))


def test_exposure_rejects_impossible_ranks_and_non_finite_scores() -> None:
    with pytest.raises(InvalidParameterError, match="rank must lie in"):
        exposure_from_rank(0, 10)
    with pytest.raises(InvalidParameterError, match="finite"):
        rank_among(float("nan"), [1.0])
    with pytest.raises(InvalidParameterError, match="at least 10"):
        skew_normal_exposure(0.0, [1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="all candidate log-perplexities are equal"):
        skew_normal_exposure(0.0, np.ones(50))


def test_skew_normal_estimate_extrapolates_beyond_the_sample() -> None:
    shape, loc, scale = 3.0, 20.0, 4.0
    candidates = skewnorm.rvs(shape, loc, scale, size=4000, random_state=np.random.default_rng(0))
    # a canary at the 1e-6 quantile: true exposure log2(1e6) = 19.93 bits; the sample's rank saturates at log2(4001) = 11.97
    canary = float(skewnorm.ppf(1e-6, shape, loc, scale))
    assert sampled_exposure(canary, candidates) == pytest.approx(math.log2(4001))
    estimate = skew_normal_exposure(canary, candidates)
    assert 17.5 < estimate < 22.5
    # a typical canary (the median) has exposure near 1 bit under both estimators
    median = float(skewnorm.median(shape, loc, scale))
    assert 0.8 < skew_normal_exposure(median, candidates) < 1.2
    assert 0.8 < sampled_exposure(median, candidates) < 1.2
    # capped at log2 |R| when the space is given
    assert skew_normal_exposure(canary - 100, candidates, space_size=10**6) == pytest.approx(math.log2(10**6))


def test_the_exposure_docstring_states_the_formula() -> None:
    assert "exposure(r) = log2 |R| - log2 rank(r)" in (exposure.__doc__ or "")


def _two_class_model() -> torch.nn.Module:
    """Logit of class 1 = sum of the left half minus the right half; class 0 the opposite."""
    weight = torch.zeros(2, 1, 16, 16)
    weight[1, 0, :, :8], weight[1, 0, :, 8:] = 1.0, -1.0
    weight[0] = -weight[1]
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(weight.view(2, 256) / 256)
    return model


def test_model_inversion_finds_the_class_pattern_and_leaves_the_model_alone() -> None:
    model = _two_class_model()
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    images = ModelInversion(steps=150, lr=0.1, tv_weight=0.0, l2_weight=0.0).invert(
        model, [1, 0], torch.zeros(1, 16, 16), PixelRange(-1.0, 1.0)
    )
    assert images.shape == (2, 1, 16, 16)
    assert images.min() >= -1.0 and images.max() <= 1.0
    # class 1: left half bright, right half dark (the box prior clips at +-1)
    assert float(images[0, 0, :, :8].mean()) > 0.9 and float(images[0, 0, :, 8:].mean()) < -0.9
    assert float(images[1, 0, :, :8].mean()) < -0.9
    assert model.training  # mode restored
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_the_l2_prior_holds_the_reconstruction_near_the_start() -> None:
    model = _two_class_model()
    free = ModelInversion(steps=100, lr=0.05, tv_weight=0.0, l2_weight=0.0).invert(
        model, [1], torch.zeros(1, 16, 16), PixelRange(-5.0, 5.0)
    )
    held = ModelInversion(steps=100, lr=0.05, tv_weight=0.0, l2_weight=50.0).invert(
        model, [1], torch.zeros(1, 16, 16), PixelRange(-5.0, 5.0)
    )
    assert float(held.abs().mean()) < 0.5 * float(free.abs().mean())


def test_the_logit_objective_keeps_pushing_where_cross_entropy_stops() -> None:
    model = _two_class_model()
    box = PixelRange(-100.0, 100.0)

    def run(objective: str) -> torch.Tensor:
        return ModelInversion(objective=objective, steps=100, lr=0.5, tv_weight=0.0, l2_weight=0.0).invert(
            model, [1], torch.zeros(1, 16, 16), box
        )

    # Adam moves every pixel by about lr per step while the gradient keeps its sign: 100 steps -> |x| about 50.
    # Cross-entropy's gradient vanishes once class 1 is certain, after a few steps.
    assert 40.0 < float(run("logit").abs().mean()) <= 50.5
    assert float(run("cross_entropy").abs().mean()) < 15.0


def test_ssim_of_an_image_with_itself_is_one_and_comes_from_torchmetrics() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, 28, 28, generator=g)
    other = torch.rand(3, 1, 28, 28, generator=g)
    np.testing.assert_allclose(ssim(images, images, PixelRange(0.0, 1.0)), 1.0, atol=1e-6)
    expected = structural_similarity_index_measure(images, other, data_range=(0.0, 1.0), reduction="none")
    assert isinstance(expected, torch.Tensor)
    np.testing.assert_allclose(ssim(images, other, PixelRange(0.0, 1.0)), expected.numpy(), rtol=1e-6)
    assert (ssim(images, other, PixelRange(0.0, 1.0)) < 0.2).all()  # independent noise is dissimilar
    with mock.patch.object(reconstruction, "structural_similarity_index_measure", return_value=torch.full((3,), 0.25)) as library:
        np.testing.assert_allclose(ssim(images, other, PixelRange(0.0, 1.0)), 0.25)
    library.assert_called_once()


def test_ssim_checks_shapes_and_kernel() -> None:
    with pytest.raises(InvalidParameterError, match="one shape"):
        ssim(torch.zeros(2, 1, 28, 28), torch.zeros(3, 1, 28, 28), PixelRange(0.0, 1.0))
    with pytest.raises(InvalidParameterError, match="kernel_size must be odd and at most 8"):
        ssim(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), PixelRange(0.0, 1.0))


def test_reconstruction_grid_is_a_png_with_one_panel_per_image(tmp_path) -> None:
    columns = {"target": torch.rand(3, 1, 8, 8), "original": torch.rand(3, 1, 8, 8), "retrain": torch.rand(3, 3, 8, 8)}
    figure = reconstruction_grid(columns, PixelRange(0.0, 1.0), row_labels=["a", "b", "c"])
    assert len(figure.axes) == 9
    assert [ax.get_title() for ax in figure.axes[:3]] == ["target", "original", "retrain"]
    path = tmp_path / "grid.png"
    save_reconstruction_grid(str(path), columns, PixelRange(0.0, 1.0))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidParameterError, match="same positive number"):
        reconstruction_grid({"a": torch.rand(2, 1, 8, 8), "b": torch.rand(3, 1, 8, 8)}, PixelRange(0.0, 1.0))
