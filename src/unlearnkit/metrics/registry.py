"""Registries of metrics: per-model metrics (computed at run time) and population metrics (at report time)."""

from __future__ import annotations

from unlearnkit.metrics.base import Metric
from unlearnkit.metrics.collapse import (
    FeatureSeparability,
    ForgetLossKS,
    LinearProbeAccuracy,
)
from unlearnkit.metrics.language_model import Exposure
from unlearnkit.metrics.population_metrics import (
    UMIA,
    ChallengeScore,
    ForgettingQuality,
    KLoM,
    PopulationMetric,
)
from unlearnkit.metrics.reconstruction_metrics import ReconstructionBaseline, ReconstructionSSIM
from unlearnkit.metrics.recsys_metrics import RECOMMENDATION_METRICS
from unlearnkit.metrics.single_model import EntropyMIA, ToW, ToWMIA
from unlearnkit.metrics.standard import (
    AvgGap,
    ForgetAccuracy,
    ForgettingScore,
    HeldoutForgetAccuracy,
    LossMIA,
    MIAEfficacy,
    NoMUS,
    PeakMemory,
    RetainAccuracy,
    Speedup,
    TestAccuracy,
    ValidationAccuracy,
    WallTime,
)
from unlearnkit.metrics.targets import RetainLoss, TargetConfidence, TargetLoss, TargetMargin, TargetMIA, TestLoss
from unlearnkit.registry import Registry

METRICS: Registry[type[Metric]] = Registry(
    "metric",
    {
        "retain_acc": RetainAccuracy,
        "forget_acc": ForgetAccuracy,
        "validation_acc": ValidationAccuracy,
        "test_acc": TestAccuracy,
        "heldout_forget_acc": HeldoutForgetAccuracy,
        "mia_loss": LossMIA,
        "forgetting_score": ForgettingScore,
        "nomus": NoMUS,
        "mia_efficacy": MIAEfficacy,
        "mia_entropy": EntropyMIA,
        "avg_gap": AvgGap,
        "tow": ToW,
        "tow_mia": ToWMIA,
        "wall_time": WallTime,
        "speedup": Speedup,
        "peak_memory": PeakMemory,
        "linear_probe_acc": LinearProbeAccuracy,
        "feature_separability": FeatureSeparability,
        "forget_loss_ks": ForgetLossKS,
        # Per-target figures of the forget set (similar samples: grouped by each target's count in the report).
        "target_loss": TargetLoss,
        "target_confidence": TargetConfidence,
        "target_margin": TargetMargin,
        "target_mia": TargetMIA,
        "retain_loss": RetainLoss,
        "test_loss": TestLoss,
        "reconstruction_ssim": ReconstructionSSIM,
        "reconstruction_ssim_baseline": ReconstructionBaseline,
        # Language models (task kind "language_model").
        "exposure": Exposure,
        # Recommendation (task kind "recommendation"; wall_time and speedup serve both kinds).
        **RECOMMENDATION_METRICS,
    },
)

POPULATION_METRICS: Registry[type[PopulationMetric]] = Registry(
    "population metric",
    {
        "forgetting_quality": ForgettingQuality,
        "challenge_score": ChallengeScore,
        "klom": KLoM,
        "u_mia": UMIA,
    },
)
