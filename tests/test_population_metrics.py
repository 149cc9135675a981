"""Population metrics (NeurIPS-2023 F, KLoM, per-example U-MIA, ToW), single-model attacks, bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from unlearnkit.errors import InvalidParameterError, MissingReferenceError
from unlearnkit.metrics import (
    METRICS,
    EvalContext,
    ModelOutputs,
    accuracy,
    bootstrap_ci,
    challenge,
    challenge_score,
    confidence_scores,
    entropy_mia,
    epsilon_points,
    forgetting_epsilons,
    forgetting_quality,
    klom,
    logit_scaled_confidence,
    loss_threshold_mia_auc,
    margins,
    membership_auc,
    tow,
    tow_mia,
    u_mia,
)
from unlearnkit.metrics.challenge import (
    DELTA,
    LOG_FLOOR,
    double_threshold_grid,
    rule_epsilons,
    single_threshold_grid,
)


def f32_epsilon(fpr: float, fnr: float) -> float:
    """The official ε of one rule, evaluated in float32 as the official code does."""
    keep = np.float32(1 - DELTA)
    fpr32, fnr32 = np.float32(fpr), np.float32(fnr)
    return float(max(np.log(keep - fpr32) - np.log(fnr32), np.log(keep - fnr32) - np.log(fpr32), 0))


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)[:, None]


# --------------------------------------------------------------------------- forgetting quality F

# N = 4 models, one forget example: unlearned {0,1,2,3}, retrained {1.5,2.5,3.5,4.5}.
# Retrained has the larger median, so it is "positive". A single threshold
# t in (2, 2.5] gives FNR = 1/4 (1.5 < t) and FPR = 1/4 (3 >= t):
# ε = log(1 - δ - 1/4) - log(1/4) = log(3 - 4δ) ≈ 1.0986, the largest ε with
# both error rates non-zero at N = 4. No double-threshold interval holds all
# of one set and none of the other, so no rule reaches ε = ∞.
OVERLAP_U = column(0, 1, 2, 3)
OVERLAP_R = column(1.5, 2.5, 3.5, 4.5)


def test_hand_computed_overlapping_example() -> None:
    eps = forgetting_epsilons(OVERLAP_U, OVERLAP_R)
    assert eps[0] == pytest.approx(f32_epsilon(0.25, 0.25), abs=1e-7)
    assert eps[0] == pytest.approx(math.log(3 - 4 * DELTA), abs=1e-6)
    # ε_max = ceil(ln 3) = 2 -> buckets [0, .5), [.5, 1), [1, 1.5), [1.5, 2): ε ≈ 1.0986 scores 1/4.
    assert forgetting_quality(OVERLAP_U, OVERLAP_R) == 0.25
    # Adding an example with identical populations (ε = 0, 1 point) averages to 0.625.
    assert forgetting_quality(np.c_[OVERLAP_U, OVERLAP_U], np.c_[OVERLAP_R, OVERLAP_U]) == 0.625


def test_rules_with_exactly_one_zero_error_rate_are_discarded() -> None:
    # Threshold t = 4.5 (the top of the grid) gives FPR = 0, FNR = 3/4. Kept, it
    # would make ε = ∞ (log(...) - log 0); discarded, ε stays at log(3 - 4δ).
    assert np.isfinite(forgetting_epsilons(OVERLAP_U, OVERLAP_R)[0])
    assert forgetting_epsilons(OVERLAP_U, OVERLAP_R)[0] < 1.1
    eps = rule_epsilons(np.array([0, 3, 0, 1]), np.array([1, 0, 0, 1]), 4, DELTA)
    assert np.isnan(eps[0]) and np.isnan(eps[1])  # one zero -> discarded
    assert eps[2] == np.inf  # both zero -> perfect separation
    assert eps[3] == pytest.approx(f32_epsilon(0.25, 0.25))


def test_rule_with_both_rates_one_is_discarded() -> None:
    # FPR = FNR = 1: both ε candidates are log of a negative number (NaN).
    assert np.isnan(rule_epsilons(np.array([4]), np.array([4]), 4, DELTA)[0])


def test_perfect_attack_scores_zero_points() -> None:
    # A threshold between the sets has FPR = FNR = 0: ε = ∞, clipped to 50, 0 points.
    u, r = column(0, 0.1, 0.2, 0.3), column(10, 10.1, 10.2, 10.3)
    assert forgetting_epsilons(u, r)[0] == 50.0
    assert forgetting_quality(u, r) == 0.0


def test_peaky_population_gets_the_cap() -> None:
    # Range ratio 0.001 / 3 < 0.01 -> ε = 50 without running any attack.
    u, r = column(0.3, 0.3, 0.3, 0.301), column(0, 1, 2, 3)
    assert forgetting_epsilons(u, r)[0] == 50.0
    # A constant population against a spread one: ratio 0 < 0.01.
    assert forgetting_epsilons(column(1, 1, 1, 1), column(0, 1, 2, 3))[0] == 50.0


def test_constant_populations() -> None:
    # Both ranges 0: the ratio is 0/0 (NaN, not < 0.01) so the rules run and separate them.
    assert forgetting_epsilons(column(1, 1, 1, 1), column(2, 2, 2, 2))[0] == 50.0
    # Equal constants: every rule has exactly one zero error rate; the official code fails here.
    with pytest.raises(InvalidParameterError, match="example 1"):
        forgetting_epsilons(np.c_[OVERLAP_U, column(1, 1, 1, 1)], np.c_[OVERLAP_R, column(1, 1, 1, 1)])


def test_identical_populations_score_one_and_separated_score_zero() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(size=(8, 5))
    assert forgetting_quality(u, u.copy()) == 1.0
    assert forgetting_quality(u, u + 100.0) == 0.0


def test_forgetting_quality_falls_as_populations_separate() -> None:
    rng = np.random.default_rng(1)
    u, noise = rng.normal(size=(16, 6)), rng.normal(size=(16, 6))
    scores = [forgetting_quality(u, noise + shift) for shift in (0.0, 1.5, 6.0)]
    # Even two samples of one distribution are told apart a little by the best of ~10^5 rules at N = 16.
    assert 0.1 < scores[0] < 0.5
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_golden_numbers_of_the_official_code() -> None:
    """N = 8, three examples; the values were produced by the official metric.py (run on CPU).

    They are also derivable by hand: example 0's best rule has FPR = 3/8 and
    FNR = 1/8 (ε = log(5 - 8δ)), example 1's FPR = FNR = 1/8 (ε = log(7 - 8δ)),
    and example 2 is perfectly separated (ε = 50). With ε_max = ceil(ln 7) = 2
    the first two fall in bucket [1.5, 2) worth 1/8 each: F = (1/8 + 1/8 + 0) / 3.
    """
    u = np.array([[0.12, -1.30, 2.05], [0.87, -0.42, 2.61], [1.45, 0.33, 1.90], [-0.20, -1.05, 3.12],
                  [0.64, 0.10, 2.44], [1.02, -0.77, 2.80], [0.35, -0.15, 1.75], [1.80, 0.52, 2.20]])
    r = np.array([[0.95, 0.40, 0.10], [1.60, 1.25, -0.35], [2.10, 0.85, 0.60], [1.15, 1.70, -0.90],
                  [2.45, 0.05, 0.25], [1.30, 1.10, -0.10], [0.70, 0.95, 0.45], [1.95, 1.55, -0.60]])
    eps = forgetting_epsilons(u, r)
    np.testing.assert_array_equal(eps, [1.609421968460083, 1.9458987712860107, 50.0])
    assert eps[0] == pytest.approx(f32_epsilon(3 / 8, 1 / 8), abs=1e-7)
    assert eps[1] == pytest.approx(f32_epsilon(1 / 8, 1 / 8), abs=1e-7)
    assert forgetting_quality(u, r) == pytest.approx(1 / 12, abs=1e-15)


def brute_force_epsilon(u: np.ndarray, r: np.ndarray) -> float:
    """A direct, slow evaluation of every official rule (no sorting tricks), for one example."""
    n = len(u)
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    ranges = (np.ptp(pos), np.ptp(neg))
    if max(ranges) > 0 and min(ranges) / max(ranges) < 0.01:
        return 50.0
    rates = []
    peaky, other = (neg, pos) if ranges[0] >= ranges[1] else (pos, neg)
    width = min(ranges)
    lo, hi = peaky.min() + width - 2.0, peaky.max() + 2.0
    for right in np.linspace(lo, hi, int(np.ceil((hi - lo) * 100))):
        left = np.linspace(right - width - 2.0, right - width + 2.0, 400)[:, None]
        inside_peaky = ((left <= peaky) & (peaky <= right)).sum(1)
        inside_other = ((left <= other) & (other <= right)).sum(1)
        rates += list(zip(n - inside_peaky, inside_other, strict=True))
    grid = torch.linspace(torch.tensor(min(u.min(), r.min())), torch.tensor(max(u.max(), r.max())),
                          int(np.ceil((max(u.max(), r.max()) - min(u.min(), r.min())) * 100))).double().numpy()
    for t in grid:
        rates.append(((pos < t).sum(), (neg >= t).sum()))
    fn, fp = np.array(rates).T
    eps = rule_epsilons(fn, fp, n, DELTA)
    return float(np.clip(np.nanmax(eps), 0, 50))


def test_matches_a_brute_force_evaluation_of_every_rule() -> None:
    rng = np.random.default_rng(2)
    u = rng.normal(size=(6, 5)) * [0.3, 1.0, 2.0, 0.5, 1.0]
    r = rng.normal(size=(6, 5)) + np.array([0.0, 0.3, 0.6, 1.0, 4.0])
    r[:, 1] = np.round(r[:, 1], 1)  # ties and values on grid points
    u[:, 1] = np.round(u[:, 1], 1)
    expected = [brute_force_epsilon(u[:, s], r[:, s]) for s in range(5)]
    assert len(set(expected)) >= 4  # several different ε values, not only the cap
    np.testing.assert_array_equal(forgetting_epsilons(u, r), expected)


def test_rule_table_and_direct_evaluation_agree(monkeypatch) -> None:
    rng = np.random.default_rng(11)
    u, r = rng.normal(size=(9, 3)), rng.normal(0.7, 1.0, size=(9, 3))
    tabulated = forgetting_epsilons(u, r)
    monkeypatch.setattr(challenge, "_MAX_TABLE_CELLS", 0)
    np.testing.assert_array_equal(forgetting_epsilons(u, r), tabulated)


def test_double_threshold_rule_can_be_the_strongest() -> None:
    # Unlearned {0.9..1.3} sits inside the spread retrained set, which has one value 1.15 among them.
    # Single thresholds reach ε ≈ 0 (FPR 2/5, FNR 3/5) or are discarded; the interval [0.9, 1.2]
    # holds 4 of 5 unlearned values and 1 retrained one: FPR = FNR = 1/5, ε = log(4 - 5δ) ≈ 1.386.
    u, r = column(0.9, 1.0, 1.1, 1.2, 1.3), column(-3, -2, 1.15, 4, 5)
    assert forgetting_epsilons(u, r)[0] == pytest.approx(f32_epsilon(0.2, 0.2), abs=1e-7)
    assert forgetting_quality(u, r) == 0.25  # ε_max = ceil(ln 4) = 2; bucket [1, 1.5) scores 1/4


def test_single_threshold_grid_is_torch_float32_linspace() -> None:
    rng = np.random.default_rng(3)
    for low, high in [(-3.2, 4.7), (0.0, 0.015), (-103.6, 103.6), (1.0, 1.004)]:
        n = int(np.ceil((high - low) * 100))
        expected = torch.linspace(torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64), n)
        np.testing.assert_array_equal(single_threshold_grid(low, high), expected.double().numpy())
    assert single_threshold_grid(2.0, 2.0).size == 0
    low = rng.normal()
    np.testing.assert_array_equal(single_threshold_grid(low, low + 0.005), [np.float32(low)])


def test_double_threshold_grid_shape_and_bounds() -> None:
    peaky = np.array([0.2, 0.5, 0.9])
    left, right = double_threshold_grid(peaky, 0.7)
    assert left.shape == (right.size, 400) and right.size in (400, 401)
    assert right[0] == pytest.approx(0.2 + 0.7 - 2.0) and right[-1] == pytest.approx(0.9 + 2.0)
    np.testing.assert_allclose(left[:, 0], right - 0.7 - 2.0)
    np.testing.assert_allclose(left[:, -1], right - 0.7 + 2.0)


def test_epsilon_points_binning_for_512_models() -> None:
    # ε_max = ceil(ln 511) = 7: fourteen 0.5-wide buckets scoring 1, 1/2, ..., 2^-13.
    eps = [0.0, 0.49, 0.5, 1.0, 6.49, 6.5, 6.99, 7.0, 50.0, np.inf]
    expected = [1, 1, 0.5, 0.25, 2.0**-12, 2.0**-13, 2.0**-13, 0, 0, 0]
    np.testing.assert_array_equal(epsilon_points(eps, 512), expected)


def test_epsilon_points_binning_for_small_populations() -> None:
    np.testing.assert_array_equal(epsilon_points([0.0, 0.5, 0.99, 1.0], 3), [1, 0.5, 0.5, 0])  # ε_max = 1
    np.testing.assert_array_equal(epsilon_points([1.0986, 1.5, 1.99, 2.0], 4), [0.25, 0.125, 0.125, 0])  # ε_max = 2
    np.testing.assert_array_equal(epsilon_points([0.0, 0.3], 2), [0, 0])  # ε_max = ceil(ln 1) = 0: no bucket
    assert forgetting_quality(column(0, 1), column(0, 1)) == 0.0


def test_forgetting_quality_rejects_bad_inputs() -> None:
    with pytest.raises(InvalidParameterError, match="shape"):
        forgetting_quality(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(InvalidParameterError, match="2 models"):
        forgetting_quality(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(InvalidParameterError, match="finite"):
        forgetting_quality(np.full((3, 1), np.nan), np.zeros((3, 1)))
    with pytest.raises(InvalidParameterError, match="delta"):
        forgetting_quality(OVERLAP_U, OVERLAP_R, delta=1.0)


def test_logit_scaled_confidence_matches_its_definition() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(3, 10, 5)) * 4  # (models, examples, classes)
    labels = rng.integers(0, 5, size=10)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p_true = np.take_along_axis(probs, np.broadcast_to(labels[:, None], (3, 10, 1)), -1)[..., 0]
    expected = np.log(p_true + 1e-45) - np.log(1 - p_true + 1e-45)
    np.testing.assert_allclose(logit_scaled_confidence(logits, labels), expected, rtol=1e-9, atol=1e-9)
    # Without underflow it is the margin; with it, the 1e-45 floor bounds it near ±103.6.
    np.testing.assert_allclose(margins(logits, labels), expected, rtol=1e-9, atol=1e-9)
    extreme = logit_scaled_confidence(np.array([[2000.0, 0.0], [0.0, 2000.0]]), np.array([0, 0]))
    np.testing.assert_allclose(extreme, [-LOG_FLOOR, LOG_FLOOR])
    assert margins(np.array([[2000.0, 0.0]]), np.array([0]))[0] == 2000.0


def test_challenge_score_scales_forgetting_by_utility_ratios() -> None:
    assert challenge_score(0.5, [0.9, 0.8], [0.85, 0.85], 0.6, [0.5, 0.7]) == pytest.approx(0.5 * (0.85 / 0.85) * (0.6 / 0.6))
    assert challenge_score(0.4, 0.8, 1.0, 0.5, 0.625) == pytest.approx(0.4 * 0.8 * 0.8)
    with pytest.raises(InvalidParameterError, match="positive"):
        challenge_score(0.4, 0.8, 0.0, 0.5, 0.5)
    with pytest.raises(InvalidParameterError, match="forgetting"):
        challenge_score(1.5, 0.8, 0.8, 0.5, 0.5)


# --------------------------------------------------------------------------- KLoM


def test_klom_identical_populations_is_zero() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(size=(20, 6)) * 3
    values = klom(m, m.copy())
    assert values.shape == (6,)
    np.testing.assert_allclose(values, 0.0, atol=1e-12)


def test_klom_disjoint_populations_is_large() -> None:
    rng = np.random.default_rng(6)
    unlearned, retrained = rng.normal(-5, 0.5, size=(30, 4)), rng.normal(5, 0.5, size=(30, 4))
    # p's mass sits where q is empty, so q is floored at 1e-5: KL ≈ log(1e5) ≈ 11.5.
    values = klom(unlearned, retrained)
    assert np.all((values > 10) & (values < 12))


def test_klom_hand_computed_with_two_bins() -> None:
    u, r = column(0, 0, 1, 2), column(0, 1, 1, 2)
    # Edges [0, 1, 2]; np.digitize leaves the joint maximum 2 out of both histograms:
    # p = (2/3, 1/3), q = (1/3, 2/3): KL = (1/3) log 2.
    assert klom(u, r, bins=2)[0] == pytest.approx(math.log(2) / 3)
    # A closed last bin counts it: p = (1/2, 1/2), q = (1/4, 3/4): KL = (1/2) log(4/3).
    assert klom(u, r, bins=2, include_max=True)[0] == pytest.approx(0.5 * math.log(4 / 3))


def test_klom_percentile_and_nan_when_nothing_is_counted() -> None:
    rng = np.random.default_rng(7)
    u, r = rng.normal(size=(10, 9)), rng.normal(0.5, 1.0, size=(10, 9))
    values = klom(u, r)
    assert klom(u, r, percentile=95) == pytest.approx(np.percentile(values, 95))
    assert klom(u, r, percentile=0) == pytest.approx(values.min())
    # Unlearned margins all clipped at 100 = the joint maximum: nothing counted (the reference yields NaN).
    assert np.isnan(klom(column(150, 120, 101), column(0, 1, 2))[0])
    assert np.isfinite(klom(column(150, 120, 101), column(0, 1, 2), include_max=True)[0])


def test_klom_accepts_different_model_counts_and_validates() -> None:
    rng = np.random.default_rng(8)
    assert klom(rng.normal(size=(5, 3)), rng.normal(size=(7, 3))).shape == (3,)
    with pytest.raises(InvalidParameterError, match="bins"):
        klom(np.zeros((3, 2)), np.zeros((3, 2)), bins=0)
    with pytest.raises(InvalidParameterError, match="percentile"):
        klom(np.zeros((3, 2)), np.zeros((3, 2)), percentile=101)
    with pytest.raises(InvalidParameterError, match="examples"):
        klom(np.zeros((3, 2)), np.zeros((3, 4)))


# --------------------------------------------------------------------------- U-MIA


def test_u_mia_on_constructed_scores() -> None:
    u = np.c_[column(0, 1, 2, 3), column(0, 1, 2, 3), column(0, 1, 2, 3)]
    r = np.c_[column(10, 11, 12, 13), column(3, 2, 1, 0), column(2, 3, 4, 5)]
    result = u_mia(u, r)
    # Separated: advantage 1. Same values: 0. Shifted by 2: best threshold t = 1 (or 3)
    # calls half of one population and none of the other: advantage 1/2.
    np.testing.assert_allclose(result.per_example, [1.0, 0.0, 0.5])
    assert result.mean == pytest.approx(0.5)


def test_u_mia_is_the_kolmogorov_smirnov_statistic() -> None:
    rng = np.random.default_rng(9)
    u, r = np.round(rng.normal(size=(7, 5)), 1), np.round(rng.normal(0.4, 1.0, size=(11, 5)), 1)
    expected = [ks_2samp(u[:, s], r[:, s]).statistic for s in range(5)]
    np.testing.assert_allclose(u_mia(u, r).per_example, expected)
    np.testing.assert_allclose(u_mia(r, u).per_example, expected)


# --------------------------------------------------------------------------- ToW


def test_tow_hand_computed() -> None:
    assert tow(0.9, 0.8, 0.95, 0.97, 0.85, 0.88) == pytest.approx(0.9 * 0.98 * 0.97)
    assert tow(0.5, 0.5, 1.0, 1.0, 0.7, 0.7) == 1.0
    assert tow_mia(0.2, 0.5, 0.95, 0.97, 0.85, 0.88) == pytest.approx(0.7 * 0.98 * 0.97)
    with pytest.raises(InvalidParameterError, match="fa_u"):
        tow(90.0, 0.8, 0.95, 0.97, 0.85, 0.88)


# --------------------------------------------------------------------------- single-model attacks


def memorising_mlp(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
    """A small MLP trained until it memorises random labels (members)."""
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(80):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def memorised() -> dict[str, torch.Tensor]:
    """Logits of a model on its members, on non-members, and of a model that saw neither."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, 16, generator=generator)
    y = torch.randint(0, 4, (3, 64), generator=generator)
    seen, other = memorising_mlp(x[0], y[0], seed=1), memorising_mlp(x[2], y[2], seed=2)
    with torch.no_grad():
        return {
            "y_members": y[0], "y_nonmembers": y[1],
            "members": seen(x[0]), "nonmembers": seen(x[1]),
            "unseen_members": other(x[0]), "unseen_nonmembers": other(x[1]),
        }


@pytest.mark.parametrize("kind", ["loss", "confidence", "entropy", "logit_scaled_confidence", "margin"])
def test_membership_scores_point_to_members(memorised, kind: str) -> None:
    member = confidence_scores(memorised["members"], memorised["y_members"], kind)
    nonmember = confidence_scores(memorised["nonmembers"], memorised["y_nonmembers"], kind)
    # Entropy ignores the label, and a non-member can be confidently wrong: a weaker attack.
    assert membership_auc(member, nonmember) > (0.8 if kind == "entropy" else 0.9)
    member = confidence_scores(memorised["unseen_members"], memorised["y_members"], kind)
    nonmember = confidence_scores(memorised["unseen_nonmembers"], memorised["y_nonmembers"], kind)
    assert 0.3 < membership_auc(member, nonmember) < 0.7


def test_loss_threshold_auc_sign(memorised) -> None:
    def losses(logits: str, labels: str) -> np.ndarray:
        return torch.nn.functional.cross_entropy(memorised[logits], memorised[labels], reduction="none").numpy()

    assert loss_threshold_mia_auc(losses("members", "y_members"), losses("nonmembers", "y_nonmembers")) > 0.9
    assert loss_threshold_mia_auc(losses("nonmembers", "y_nonmembers"), losses("members", "y_members")) < 0.1
    assert membership_auc([3.0, 2.0], [1.0, 0.0]) == 1.0


def test_entropy_mia_calls_memorised_members_members(memorised) -> None:
    members, nonmembers = (torch.softmax(memorised[k].double(), 1).numpy() for k in ("members", "nonmembers"))
    # Fit on half of each set, then ask about the other halves.
    on_members = entropy_mia(members[:32], nonmembers[:32], members[32:])
    on_nonmembers = entropy_mia(members[:32], nonmembers[:32], nonmembers[32:])
    # Overfitted networks are confident on non-members too, so the gap, not 0 vs 1, is the signal.
    assert on_members > 0.9
    assert on_nonmembers < 0.75
    with pytest.raises(InvalidParameterError, match="non-empty"):
        entropy_mia(members, nonmembers, members[:0])


def test_entropy_mia_sign_on_constructed_probabilities() -> None:
    rng = np.random.default_rng(12)
    peaked = np.full((40, 4), 0.01) + np.eye(4)[rng.integers(0, 4, 40)] * 0.96  # low entropy: members
    flat = rng.dirichlet(np.full(4, 50.0), size=40)  # near-uniform: non-members
    assert entropy_mia(peaked[:20], flat[:20], peaked[20:]) == 1.0
    assert entropy_mia(peaked[:20], flat[:20], flat[20:]) == 0.0


# --------------------------------------------------------------------------- metric classes


@pytest.fixture(scope="module")
def outputs_pair(tiny_original, tiny_builder, tiny_data, tiny_split) -> tuple[ModelOutputs, ModelOutputs]:
    untrained = tiny_builder.build(tiny_data.meta, torch.Generator().manual_seed(7)).eval()
    return ModelOutputs.compute(tiny_original, tiny_data, tiny_split), ModelOutputs.compute(untrained, tiny_data, tiny_split)


def test_tow_metric_uses_the_reference(outputs_pair) -> None:
    trained, untrained = outputs_pair
    accs = [[accuracy(o.logits[s], o.labels[s]) for s in ("forget", "retain", "test")] for o in (trained, untrained)]
    ctx = EvalContext(trained, 1.0, reference=untrained, reference_seconds=2.0)
    expected = tow(accs[0][0], accs[1][0], accs[0][1], accs[1][1], accs[0][2], accs[1][2])
    assert METRICS["tow"]().compute(ctx) == pytest.approx(expected)
    assert METRICS["tow"]().compute(EvalContext(trained, 1.0, reference=trained, reference_seconds=2.0)) == 1.0
    assert METRICS["tow_mia"]().compute(EvalContext(trained, 1.0, reference=trained, reference_seconds=2.0)) == 1.0
    with pytest.raises(MissingReferenceError):
        METRICS["tow"]().compute(EvalContext(trained, 1.0))
    assert METRICS["tow"].needs_reference and METRICS["tow"].direction == "higher"


def test_entropy_mia_metric(outputs_pair) -> None:
    trained, _ = outputs_pair
    value = METRICS["mia_entropy"]().compute(EvalContext(trained, 1.0))
    probs = {s: torch.softmax(trained.logits[s].double(), 1).numpy() for s in ("retain", "test", "forget")}
    assert value == entropy_mia(probs["retain"], probs["test"], probs["forget"])
    assert 0.0 <= value <= 1.0
    assert METRICS["mia_entropy"].direction == "reference" and METRICS["mia_entropy"].notion == "untraining"


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci() -> None:
    values = np.random.default_rng(10).normal(2.0, 1.0, size=200)
    low, high = bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    assert 0.15 < high - low < 0.4  # about 2 * 1.96 / sqrt(200) = 0.28
    assert bootstrap_ci(values, seed=3) == (low, high)
    assert bootstrap_ci(values, seed=4) != (low, high)
    low_median, high_median = bootstrap_ci(values, statistic=np.median, n_boot=200, level=0.5)
    assert low_median < np.median(values) < high_median
    with pytest.raises(InvalidParameterError, match="level"):
        bootstrap_ci(values, level=1.0)
