"""Population metrics as configurable report-time metrics over stored outputs.

An experiment with N seeds stores, per method, N unlearned models' logits
(one per original) and N references' logits.  A population metric turns the
two stacks into per-example values and a statistic of them (the value
reported); the report adds a percentile bootstrap interval by resampling
*examples* (the model populations stay fixed), so the interval says how much
the number depends on which forget examples were drawn, not on which seeds.

The formulas are the pure functions of :mod:`.population` and
:mod:`.challenge`; these classes only choose the split and the statistic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics import population
from unlearnkit.metrics.challenge import (
    epsilon_points,
    forgetting_epsilons,
    logit_scaled_confidence,
)
from unlearnkit.params import Boolean, Configurable, Interval, Options

POPULATION_SPLITS = ("forget", "retain", "test", "validation", "heldout_forget")


@dataclass(frozen=True, eq=False)
class Population:
    """Stacked per-split logits of N models, ``(n_models, n_examples, n_classes)``, and the shared labels."""

    logits: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    @classmethod
    def stack(cls, outputs: list[dict[str, tuple[np.ndarray, np.ndarray]]]) -> Population:
        """From per-model stored outputs (split -> (logits, labels)); every model must cover the same examples."""
        if not outputs:
            raise InvalidParameterError("a population needs at least one model")
        splits = set(outputs[0])
        logits, labels = {}, {}
        for split in sorted(splits):
            if any(split not in o for o in outputs):
                raise InvalidParameterError(f"split {split!r} is missing from some models' outputs")
            first = outputs[0][split][1]
            if any(not np.array_equal(o[split][1], first) for o in outputs):
                raise InvalidParameterError(f"the models' {split!r} outputs are on different examples (labels differ)")
            logits[split] = np.stack([o[split][0] for o in outputs])
            labels[split] = np.asarray(first)
        return cls(logits, labels)

    @property
    def n_models(self) -> int:
        n: int = next(iter(self.logits.values())).shape[0]
        return n

    def require(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in self.logits:
            raise InvalidParameterError(f"no stored outputs on the {split!r} split (this experiment has {sorted(self.logits)})")
        return self.logits[split], self.labels[split]

    def accuracies(self, split: str) -> np.ndarray:
        """Accuracy of each model on ``split``."""
        logits, labels = self.require(split)
        accuracy: np.ndarray = (logits.argmax(-1) == labels[None, :]).mean(1)
        return accuracy


Statistic = Callable[[np.ndarray], float]


def population_label(name: str, params: Mapping[str, Any]) -> str:
    """Column name of a population metric: its name, plus the parameters given, e.g. ``klom[split=test]``."""
    if not params:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(params.items()))}]"


def mean(values: np.ndarray) -> float:
    return float(np.mean(values))


class PopulationMetric(Configurable, ABC):
    """A number from N unlearned and N reference models' stored outputs.

    ``evaluate`` returns the per-example values and the statistic that turns
    them into the reported value (the bootstrap resamples the former and
    re-applies the latter).  ``goals`` and ``notion`` may depend on the
    split a metric is asked to read.
    """

    description: ClassVar[str]
    direction: ClassVar[Literal["higher", "lower", "reference"]]
    same_model_count: ClassVar[bool] = False  # the statistic needs N unlearned = N reference

    @abstractmethod
    def evaluate(self, unlearned: Population, reference: Population) -> tuple[np.ndarray, Statistic]: ...

    @property
    def split_name(self) -> str:
        return "forget"

    @property
    def goals(self) -> frozenset[str]:
        return _goals_of_split(self.split_name)

    @property
    def notion(self) -> str:
        return _notion_of_split(self.split_name)


def _goals_of_split(split: str) -> frozenset[str]:
    # Closeness to the reference on the forget set is what untraining asks;
    # on never-trained samples of the forget distribution or on utility
    # splits it is meaningful whichever reference the goal picks.
    return frozenset({"untraining"}) if split == "forget" else frozenset({"untraining", "unlearning"})


def _notion_of_split(split: str) -> str:
    return {"forget": "untraining", "heldout_forget": "unlearning"}.get(split, "utility")


def _forgetting_points(unlearned: Population, reference: Population, delta: float) -> np.ndarray:
    u_logits, labels = unlearned.require("forget")
    r_logits, _ = reference.require("forget")
    u = logit_scaled_confidence(u_logits, labels)
    r = logit_scaled_confidence(r_logits, labels)
    return epsilon_points(forgetting_epsilons(u, r, delta), u.shape[0])


class ForgettingQuality(PopulationMetric):
    description = (
        "NeurIPS-2023 forgetting quality F on the forget set (official rules, logit-scaled confidence); "
        "1 = no threshold attack tells the populations apart"
    )
    direction = "higher"
    same_model_count = True
    parameter_constraints = {"delta": Interval(float, 0.0, 1.0, "left")}

    def __init__(self, *, delta: float = 1e-5) -> None:
        self.delta = delta

    def evaluate(self, unlearned: Population, reference: Population) -> tuple[np.ndarray, Statistic]:
        # F is the mean of the per-example points, so it equals forgetting_quality() exactly.
        return _forgetting_points(unlearned, reference, self.delta), mean


class ChallengeScore(PopulationMetric):
    description = "NeurIPS-2023 final score: F x (mean retain acc ratio) x (mean test acc ratio) to the references"
    direction = "higher"
    same_model_count = True
    parameter_constraints = {"delta": Interval(float, 0.0, 1.0, "left")}

    def __init__(self, *, delta: float = 1e-5) -> None:
        self.delta = delta

    def evaluate(self, unlearned: Population, reference: Population) -> tuple[np.ndarray, Statistic]:
        points = _forgetting_points(unlearned, reference, self.delta)
        accuracies = [p.accuracies(s) for s in ("retain", "test") for p in (unlearned, reference)]
        ra_u, ra_r, ta_u, ta_r = accuracies
        # The bootstrap resamples forget examples only; the utility ratios stay fixed.
        return points, lambda values: population.challenge_score(float(np.mean(values)), ra_u, ra_r, ta_u, ta_r)


class KLoM(PopulationMetric):
    description = "KLoM: a percentile over examples of the KL divergence of margin histograms to the references; 0 = same"
    direction = "lower"
    parameter_constraints = {
        "split": Options(POPULATION_SPLITS),
        "bins": Interval(int, 1, 1000),
        "percentile": Interval(float, 0.0, 100.0),
        "include_max": Boolean(),
    }

    def __init__(self, *, split: str = "forget", bins: int = 20, percentile: float = 95.0, include_max: bool = False) -> None:
        self.split = split
        self.bins = bins
        self.percentile = percentile
        self.include_max = include_max

    @property
    def split_name(self) -> str:
        return self.split

    def evaluate(self, unlearned: Population, reference: Population) -> tuple[np.ndarray, Statistic]:
        u_logits, labels = unlearned.require(self.split)
        r_logits, _ = reference.require(self.split)
        per_example = population.klom(
            population.margins(u_logits, labels),
            population.margins(r_logits, labels),
            self.bins,
            include_max=self.include_max,
        )
        q = float(self.percentile)
        # NaN (an example whose unlearned margins all sit at the joint maximum,
        # see klom) propagates: the value is reported as undefined, not guessed.
        return per_example, lambda values: float(np.percentile(values, q))


class UMIA(PopulationMetric):
    description = "per-example U-MIA: mean best-threshold advantage separating unlearned from reference models (logit-scaled confidence)"
    direction = "lower"
    parameter_constraints = {"split": Options(POPULATION_SPLITS)}

    def __init__(self, *, split: str = "forget") -> None:
        self.split = split

    @property
    def split_name(self) -> str:
        return self.split

    def evaluate(self, unlearned: Population, reference: Population) -> tuple[np.ndarray, Statistic]:
        u_logits, labels = unlearned.require(self.split)
        r_logits, _ = reference.require(self.split)
        result = population.u_mia(logit_scaled_confidence(u_logits, labels), logit_scaled_confidence(r_logits, labels))
        return result.per_example, mean
