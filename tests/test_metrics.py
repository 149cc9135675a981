"""Golden values for every registered metric and the pure formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearnkit.errors import InvalidParameterError, MissingReferenceError
from unlearnkit.metrics import METRICS, EvalContext, ModelOutputs
from unlearnkit.metrics import functional as fn


def _confident(n: int, correct: bool, label: int = 0, margin: float = 8.0) -> tuple[torch.Tensor, torch.Tensor]:
    """n two-class rows predicting ``label`` with a large margin; labels make them right or wrong."""
    logits = torch.zeros(n, 2)
    logits[:, label] = margin
    labels = torch.full((n,), label if correct else 1 - label)
    return logits, labels


def _join(*parts: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _outputs(forget_right: int) -> ModelOutputs:
    parts = {
        "retain": _confident(12, True),
        "forget": _join(_confident(forget_right, True), _confident(10 - forget_right, False)),
        "validation": _confident(4, True),
        "test": _join(_confident(6, True, margin=1.0), _confident(6, False, margin=1.0)),
        "heldout_forget": _confident(5, False),
    }
    return ModelOutputs({k: v[0] for k, v in parts.items()}, {k: v[1] for k, v in parts.items()})


@pytest.fixture
def ctx() -> EvalContext:
    """A model that memorised its forget set, against a reference that knows 4 of its 10 samples."""
    return EvalContext(
        _outputs(forget_right=10), seconds=2.0, reference=_outputs(forget_right=4), reference_seconds=50.0, peak_memory_mib=3.5
    )


# Hand-computed: retain all right and confident; forget all right (loss ~0)
# vs the unseen held-out set all wrong (loss ~8): the loss attack separates
# them perfectly; test half right with margin 1 (confidence 0.73 / 0.27,
# entropy 0.58 nats vs ~0 for retain). The SVC attack on confidence calls
# every forget sample a member (efficacy 0); on the reference, the 6 wrong
# forget samples look unseen (0.6). The entropy attack calls every (confident)
# forget sample a member.
GOLDEN = {
    "retain_acc": 1.0,
    "forget_acc": 1.0,
    "validation_acc": 1.0,
    "test_acc": 0.5,
    "heldout_forget_acc": 0.0,
    "mia_loss": 1.0,
    "forgetting_score": 0.5,
    "nomus": 0.5 * 0.5 + 0.5 * (1 - 2 * 0.5),
    "mia_efficacy": 0.0,
    "mia_entropy": 1.0,
    "avg_gap": 100 * (0.6 + 0.0 + 0.0 + 0.6) / 4,
    "tow": (1 - 0.6) * 1.0 * 1.0,
    "tow_mia": (1 - 0.6) * 1.0 * 1.0,
    "wall_time": 2.0,
    "speedup": 25.0,
    "peak_memory": 3.5,
    # all forget losses ~3e-4 vs the reference's 4 x ~3e-4 and 6 x ~8: ECDFs differ by 0.6
    "forget_loss_ks": 0.6,
    # per-target figures: every forget row right with margin 8; test rows with margin 1 (losses ln(1 + e^-1), ln(1 + e))
    "target_loss": math.log1p(math.exp(-8.0)),
    "target_confidence": 1.0 / (1.0 + math.exp(-8.0)),
    "target_margin": 8.0,
    "target_mia": 1.0,  # every target's loss is below every test loss
    "retain_loss": math.log1p(math.exp(-8.0)),
    "test_loss": 0.5 * (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(1.0))),
}
# Metrics of the model's features get golden values on constructed models in
# tests/test_collapse_metrics.py.
# Recommendation metrics have theirs in tests/test_recsys_metric_classes.py.
CLASSIFICATION = [name for name in METRICS if "classification" in METRICS[name].task_kinds]
OUTPUT_ONLY = [name for name in CLASSIFICATION if not METRICS[name].needs_model]


def test_every_metric_has_a_golden_value() -> None:
    missing = sorted(set(OUTPUT_ONLY) - set(GOLDEN))
    assert not missing, f"add golden values for {missing}"
    assert {n for n in CLASSIFICATION if METRICS[n].needs_model} == {
        "linear_probe_acc", "feature_separability", "reconstruction_ssim", "reconstruction_ssim_baseline"
    }


@pytest.mark.parametrize("name", OUTPUT_ONLY)
def test_metric_golden_value(name, ctx) -> None:
    assert METRICS[name]().compute(ctx) == pytest.approx(GOLDEN[name], abs=1e-9)


@pytest.mark.parametrize("name", [n for n in METRICS if METRICS[n].needs_reference])
def test_reference_metrics_refuse_to_run_without_reference(name) -> None:
    bare = EvalContext(_outputs(10), seconds=1.0)
    with pytest.raises(MissingReferenceError, match=name):
        METRICS[name]().compute(bare)
    assert "the retrained reference" in METRICS[name]().missing_inputs(bare)


@pytest.mark.parametrize("name", list(METRICS))
def test_metric_declares_its_semantics(name) -> None:
    cls = METRICS[name]
    assert cls.direction in {"higher", "lower", "reference"}
    assert cls.goals and cls.goals <= {"untraining", "unlearning"}
    assert cls.description


def test_nomus_matches_mufac_readme() -> None:
    # MUFAC README: original (0.5951 + 1 - 2*0.2136)/2 = 0.5839
    assert fn.nomus(0.5951, 0.5 + 0.2136) == pytest.approx(0.5839, abs=1e-4)
    assert fn.nomus(0.488, 0.5 - 0.0445) == pytest.approx(0.6995, abs=1e-4)
    with pytest.raises(InvalidParameterError):
        fn.nomus(0.5, 0.5, lam=1.5)


def test_mia_loss_is_chance_for_identical_distributions() -> None:
    rng = np.random.default_rng(0)
    losses = rng.exponential(size=400)
    value = fn.mia_loss_lr(losses[:200], losses[200:], seed=0)
    assert 0.4 <= value <= 0.6


def test_mia_loss_separates_tiny_losses_of_a_memorised_set() -> None:
    # Forget losses ~1e-3, unseen ~1e-1: perfectly separable, but on raw losses
    # an L2-penalised fit collapses to chance; standardising keeps the signal.
    rng = np.random.default_rng(1)
    members = rng.uniform(1e-4, 2e-3, 50)
    nonmembers = rng.uniform(5e-2, 3e-1, 50)
    assert fn.mia_loss_lr(members, nonmembers, seed=0) >= 0.95


def test_mia_loss_needs_two_per_side() -> None:
    with pytest.raises(InvalidParameterError, match="at least 2 members"):
        fn.mia_loss_lr([0.1], [1.0, 2.0])


def test_avg_gap_and_speedup_formulas() -> None:
    u = {"forget_acc": 0.5, "retain_acc": 1.0, "test_acc": 0.8, "mia_efficacy": 0.3}
    r = {"forget_acc": 0.2, "retain_acc": 1.0, "test_acc": 0.7, "mia_efficacy": 0.5}
    assert fn.avg_gap(u, r) == pytest.approx(15.0)
    assert fn.speedup(10.0, 0.5) == 20.0
    assert math.isinf(fn.speedup(10.0, 0.0))
    with pytest.raises(InvalidParameterError, match="missing"):
        fn.avg_gap({"forget_acc": 1.0}, r)


def test_true_class_confidence_and_loss_agree() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    conf = fn.true_class_confidence(logits, labels)
    loss = fn.per_example_loss(logits, labels)
    np.testing.assert_allclose(-np.log(conf), loss, rtol=1e-5)
    assert conf[0] == pytest.approx(1 / (1 + math.exp(-2)))
