"""Reconstruction of the forget targets by a completion attack, scored by SSIM, with a same-class baseline.

For each forget target (an image classification experiment), ``ratio`` of
its ``block`` x ``block`` pixel blocks are hidden and the attack of
:func:`~unlearnkit.metrics.reconstruction.select_completion` fills them with
the most plausible of ``candidates`` fills (the true one and ``candidates -
1`` never-trained test images of the target's class). ``reconstruction_ssim``
is the mean SSIM over the hidden pixels between completion and target;
``reconstruction_ssim_baseline`` is the same attack, with the same masks, on
a never-trained test image of each target's class (alternatives: other test
images of the class). Target minus baseline is what the model remembers of
its targets beyond what it knows of their classes. Masks, baseline images
and alternatives are drawn from a generator seeded by the run seed, so every
model of a seed (methods and references) faces the same attack.

Stored per model (arrays ``reconstruction_ssim/...``): ``ssim`` and
``baseline_ssim`` per target, ``rank`` of the true fill, the completions
(``images``), the targets and the masks, for the report's grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unlearnkit.errors import InvalidParameterError, MissingReferenceError
from unlearnkit.metrics.base import EvalContext, Metric
from unlearnkit.metrics.reconstruction import PixelRange, block_masks, masked_ssim, select_completion
from unlearnkit.params import Interval


def _alternatives(pool: np.ndarray, exclude: int, count: int, generator: torch.Generator) -> np.ndarray:
    """``count`` rows of ``pool`` other than ``exclude`` (with replacement only when the pool is too small)."""
    others = pool[pool != exclude]
    if others.size == 0:
        raise InvalidParameterError("the completion attack needs at least one other never-trained image of each target's class")
    if others.size >= count:
        picked: np.ndarray = others[torch.randperm(others.size, generator=generator)[:count].numpy()]
    else:
        picked = others[torch.randint(others.size, (count,), generator=generator).numpy()]
    return picked


class ReconstructionSSIM(Metric):
    description = "completion attack on the forget targets: SSIM over the hidden pixels (≈ the reference's); see the baseline"
    direction = "reference"
    notion = "unlearning"
    goals = frozenset({"untraining", "unlearning"})
    needs_model = True
    requires_splits = ("forget", "test")
    task_kinds = frozenset({"classification"})
    parameter_constraints = {
        "block": Interval(int, 1, None),
        "ratio": Interval(float, 0.0, 1.0, "neither"),
        "candidates": Interval(int, 2, 10_000),
        "kernel_size": Interval(int, 3, 99),
    }

    def __init__(self, *, block: int = 4, ratio: float = 0.5, candidates: int = 32, kernel_size: int = 7) -> None:
        self.block = block
        self.ratio = ratio
        self.candidates = candidates
        self.kernel_size = kernel_size

    def attack(self, ctx: EvalContext) -> dict[str, np.ndarray]:
        """Every per-target array of the attack (memoised in the context: computed once per model and setting)."""
        key = f"reconstruction/{sorted(self.get_params().items())}"
        if key in ctx.memo:
            result: dict[str, np.ndarray] = ctx.memo[key]
            return result
        if ctx.model is None or ctx.data is None or ctx.split is None:
            raise MissingReferenceError("the completion attack needs the model, the data and the split")
        self.validate_params()
        model, data, split = ctx.model, ctx.data, ctx.split
        if data.x.ndim != 4 or data.x.dtype != torch.float32:
            raise InvalidParameterError(f"the completion attack reconstructs images (N, C, H, W); got inputs {tuple(data.x.shape)}")
        generator = torch.Generator().manual_seed(ctx.seed)
        targets, test = split.forget, split.test
        labels = data.y.numpy()
        baseline = np.array([_alternatives(test[labels[test] == labels[t]], -1, 1, generator)[0] for t in targets], np.int64)
        masks = block_masks(len(targets), data.x.shape[2], data.x.shape[3], self.block, self.ratio, generator)
        pixel_range = PixelRange.of(data.x)

        def run(rows: np.ndarray) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
            fills = [
                np.r_[row, _alternatives(test[labels[test] == labels[row]], int(row), self.candidates - 1, generator)] for row in rows
            ]
            candidates = data.x[torch.as_tensor(np.stack(fills))]
            images, y = data.x[torch.as_tensor(rows)], data.y[torch.as_tensor(rows)]
            chosen, ranks = select_completion(model, images, y, masks, candidates)
            return chosen, ranks, masked_ssim(chosen, images, masks, pixel_range, self.kernel_size)

        completions, ranks, ssim = run(targets)
        _, _, baseline_ssim = run(baseline)
        result = {
            "ssim": ssim,
            "baseline_ssim": baseline_ssim,
            "rank": ranks.astype(np.int64),
            "images": completions.numpy(),
            "targets": data.x[torch.as_tensor(targets)].numpy(),
            "masks": masks.numpy(),
            "pixel_range": np.array([pixel_range.low, pixel_range.high]),
        }
        ctx.memo[key] = result
        return result

    def compute(self, ctx: EvalContext) -> float:
        return float(self.attack(ctx)["ssim"].mean())

    def arrays(self, ctx: EvalContext) -> dict[str, np.ndarray]:
        return self.attack(ctx)


class ReconstructionBaseline(ReconstructionSSIM):
    description = "the completion attack on never-trained same-class test images (same masks): what SSIM the class alone gives"
    notion = "diagnostic"

    def compute(self, ctx: EvalContext) -> float:
        return float(self.attack(ctx)["baseline_ssim"].mean())

    def arrays(self, ctx: EvalContext) -> dict[str, Any]:
        return {}  # stored once, by reconstruction_ssim
