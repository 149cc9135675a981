"""Behaviour tests for l1_sparse, salun, scrub, bad_teacher, amnesiac, unsir and boundary_shrink.

On the tiny task the original memorised the forgotten identity (forget
accuracy 1.0, forget loss ~0.004) while retraining without it reaches forget
accuracy 0.71-1.0 and loss 0.08-0.36 over seeds 0-2; each method must move
the forget set towards that (lower accuracy, higher loss) without wrecking
the retain set. The recipes below add steps (epochs, smaller batches) to the defaults
where the defaults take too few steps: the tiny forget set (7 samples) gives
only a step or two per epoch. Where a recipe pins the learning rate, epochs or
weight decay, the values are the fixed defaults these methods had before
defaults were derived from the task (the derived ones are deliberately
conservative: on this forget set, one identity within a class, retraining
itself keeps 71-100 % forget accuracy); derived defaults are tested in
test_derived_defaults.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import parameter_digest
from unlearnkit.data import ClassificationData
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods import METHODS, UnlearnTask
from unlearnkit.methods.boundary_shrink import nearest_wrong_class
from unlearnkit.methods.l1_sparse import l1_norm, l1_weight
from unlearnkit.methods.masking import FrozenCoordinates, saliency_mask
from unlearnkit.methods.scrub import rewind_reference_error
from unlearnkit.methods.unsir import error_maximising_noise
from unlearnkit.training.loop import accuracy, predict_logits

TINY_RECIPES: dict[str, dict[str, Any]] = {
    "l1_sparse": {"alpha": 0.01, "lr": 0.03, "batch_size": 16, "no_l1_epochs": 1, "epochs": 10},
    "salun": {},
    "scrub": {"forget_batch_size": 2, "epochs": 6, "msteps": 4, "batch_size": 64, "weight_decay": 5e-4},
    "bad_teacher": {"epochs": 10},
    "amnesiac": {"epochs": 5},
    "unsir": {"noise_repeats": 2, "batch_size": 8, "lr": 0.01},
    "boundary_shrink": {"with_retain": False, "early_stop": False, "lr": 1e-3, "epochs": 5, "batch_size": 32},
}


def forget_loss(model: nn.Module, task: UnlearnTask) -> float:
    x, y = task.forget
    return float(F.cross_entropy(predict_logits(model, x), y))


@pytest.mark.parametrize("name", sorted(TINY_RECIPES))
def test_method_moves_forget_set_towards_retraining(name: str, tiny_original, make_task) -> None:
    task = make_task(seed=0)
    original_accuracy = accuracy(tiny_original, *task.forget)
    original_loss = forget_loss(tiny_original, task)
    forget_accuracies, forget_losses = [], []
    for seed in range(3):
        task = make_task(seed=seed)
        model = METHODS[name](**TINY_RECIPES[name]).unlearn(tiny_original, task).model
        forget_accuracies.append(accuracy(model, *task.forget))
        forget_losses.append(forget_loss(model, task))
        assert 0.6 <= accuracy(model, *task.retain) <= 1.0, (name, seed)
    assert original_accuracy == 1.0
    assert np.mean(forget_accuracies) < original_accuracy, forget_accuracies
    # Higher than the original's loss, but bounded: not an exploded model.
    assert original_loss + 0.05 < np.mean(forget_losses) < 20.0, forget_losses


# --- SalUn: the mask is a hard constraint --------------------------------------------------


def _masked_linear(seed: int) -> tuple[nn.Linear, list[nn.Parameter], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(6, 4)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    params = list(layer.parameters())
    masks = [torch.rand(p.shape, generator=generator) < 0.5 for p in params]
    return layer, params, masks


def _steps(layer: nn.Linear, optimizer: torch.optim.Optimizer, after_step: Any, n: int = 5) -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in range(n):
        x = torch.randn(8, 6, generator=generator)
        loss = layer(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: torch.optim.Adam(ps, lr=0.1, weight_decay=0.1),
    lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1),
], ids=["sgd", "adam", "adamw"])
def test_frozen_coordinates_stay_bit_identical_under_weight_decay_and_momentum(make_optimizer) -> None:
    layer, params, masks = _masked_linear(0)
    before = [p.detach().clone() for p in params]
    optimizer = make_optimizer(params)
    with FrozenCoordinates(params, masks) as frozen:
        _steps(layer, optimizer, frozen.after_step(optimizer))
    assert frozen.unchanged()
    for p, m, b in zip(params, masks, before, strict=True):
        assert torch.equal(p.detach()[~m], b[~m])
        assert bool((p.detach()[m] != b[m]).all())  # trainable coordinates did move
        for key, value in optimizer.state[p].items():
            if key != "step" and value.shape == p.shape:
                assert bool((value[~m] == 0).all()), key


def test_gradient_masking_alone_lets_frozen_weights_move() -> None:
    """The SalUn bug the mechanism exists for: with masked gradients only, wd and momentum move frozen weights."""
    layer, params, masks = _masked_linear(0)
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1)
    with FrozenCoordinates(params, masks):  # gradient hooks active, restore never called
        _steps(layer, optimizer, None)
    assert any(not torch.equal(p.detach()[~m], b[~m]) for p, m, b in zip(params, masks, before, strict=True))


def test_frozen_coordinates_leave_no_hooks_behind() -> None:
    layer, params, masks = _masked_linear(0)
    with FrozenCoordinates(params, masks):
        pass
    layer(torch.ones(1, 6)).sum().backward()
    assert all(bool((p.grad[~m] != 0).any()) for p, m in zip(params, masks, strict=True))


def test_saliency_mask_keeps_the_largest_forget_gradients(tiny_original, make_task) -> None:
    xf, yf = make_task().forget
    mask = saliency_mask(tiny_original, xf, yf, 0.3)
    params = [p for p in tiny_original.parameters() if p.requires_grad]
    loss = -F.cross_entropy(tiny_original(xf), yf)
    saliency = torch.cat([g.abs().flatten() for g in torch.autograd.grad(loss, params)])
    flat = torch.cat([m.flatten() for m in mask])
    assert int(flat.sum()) == round(0.3 * flat.numel())
    assert float(saliency[flat].min()) >= float(saliency[~flat].max())


def test_salun_leaves_weights_outside_the_mask_bit_identical(tiny_original, make_task) -> None:
    task = make_task(seed=2)
    method = METHODS["salun"](gamma=0.3, weight_decay=0.01, momentum=0.9)
    result = method.unlearn(tiny_original, task)
    mask = saliency_mask(tiny_original, *task.forget, 0.3)
    new, old = list(result.model.parameters()), list(tiny_original.parameters())
    for p_new, p_old, m in zip(new, old, mask, strict=True):
        assert torch.equal(p_new.detach()[~m], p_old.detach()[~m])
    moved = sum(int((p_new.detach()[m] != p_old.detach()[m]).sum()) for p_new, p_old, m in zip(new, old, mask, strict=True))
    assert moved > 0.9 * sum(int(m.sum()) for m in mask)
    assert result.diagnostics["trainable_fraction"] == pytest.approx(0.3, abs=1e-3)


# --- SCRUB -----------------------------------------------------------------------------------


def test_scrub_without_forget_terms_is_fine_tuning(tiny_original, make_task) -> None:
    recipe = {"lr": 0.01, "epochs": 2, "batch_size": 16, "momentum": 0.9, "weight_decay": 5e-4}
    scrub = METHODS["scrub"](msteps=0, alpha=0.0, gamma=1.0, optimizer="sgd", **recipe)
    finetune = METHODS["finetune"](**recipe)
    first = scrub.unlearn(tiny_original, make_task(seed=4)).model
    second = finetune.unlearn(tiny_original, make_task(seed=4)).model
    assert parameter_digest(first) == parameter_digest(second)
    assert parameter_digest(first) != parameter_digest(tiny_original)


def test_scrub_max_steps_only_in_the_first_msteps_epochs(tiny_original, make_task) -> None:
    task = make_task(seed=0)
    n_forget, n_retain = len(task.forget[1]), len(task.retain[1])
    result = METHODS["scrub"](epochs=4, msteps=2, forget_batch_size=2, batch_size=32).unlearn(tiny_original, task)
    max_steps_per_epoch, min_steps_per_epoch = -(-n_forget // 2), -(-n_retain // 32)
    assert result.diagnostics["steps"] == 2 * max_steps_per_epoch + 4 * min_steps_per_epoch


def test_scrub_rejects_more_max_epochs_than_epochs() -> None:
    with pytest.raises(InvalidParameterError, match="msteps"):
        METHODS["scrub"](msteps=4, epochs=3).validate_params()


def _with_labels_or_inputs(data: ClassificationData, *, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> ClassificationData:
    return ClassificationData(
        data.name, data.x if x is None else x, data.y if y is None else y, data.groups, data.n_classes, data.group_name
    )


REWIND = {"forget_batch_size": 2, "epochs": 6, "msteps": 4, "rewind": True, "batch_size": 64, "weight_decay": 5e-4}


def test_scrub_rewind_never_reads_test_data(tiny_original, tiny_data, tiny_split, make_task) -> None:
    """Test (and held-out forget) rows replaced by noise and shifted labels give the same model and choice."""
    unseen = torch.as_tensor(np.concatenate([tiny_split.test, tiny_split.heldout_forget]))
    x, y = tiny_data.x.clone(), tiny_data.y.clone()
    x[unseen] = 50 * torch.randn(x[unseen].shape, generator=torch.Generator().manual_seed(0))
    y[unseen] = (y[unseen] + 1) % tiny_data.n_classes
    poisoned = _with_labels_or_inputs(tiny_data, x=x, y=y)
    base = make_task(seed=0)
    clean = METHODS["scrub"](**REWIND).unlearn(tiny_original, base)
    dirty_task = UnlearnTask(poisoned, tiny_split, base.train_spec, base.model_builder, torch.Generator().manual_seed(0))
    dirty = METHODS["scrub"](**REWIND).unlearn(tiny_original, dirty_task)
    assert parameter_digest(clean.model) == parameter_digest(dirty.model)
    assert clean.diagnostics == dirty.diagnostics


def test_scrub_rewind_returns_checkpoint_closest_to_validation_reference(tiny_original, make_task) -> None:
    task = make_task(seed=0)
    result = METHODS["scrub"](**REWIND).unlearn(tiny_original, task)
    d = result.diagnostics
    # The reference is the original's error on validation samples of the forget class.
    xv, yv = task.validation
    forget_class = int(task.forget[1][0])
    wrong = predict_logits(tiny_original, xv).argmax(1) != yv
    assert d["rewind_reference_error"] == pytest.approx(float(wrong[yv == forget_class].float().mean()))
    gaps = [abs(e - d["rewind_reference_error"]) for e in d["checkpoint_forget_errors"]]
    assert len(gaps) == REWIND["epochs"]
    assert gaps[d["chosen_checkpoint"]] == min(gaps)
    assert accuracy(result.model, *task.forget) == pytest.approx(1 - d["checkpoint_forget_errors"][d["chosen_checkpoint"]])
    assert len(set(d["checkpoint_forget_errors"])) > 1  # the choice was not trivial


def test_scrub_rewind_follows_the_validation_data(tiny_original, tiny_data, tiny_split, make_task) -> None:
    """Relabelling every validation sample as the forget class raises the reference, so a later, more forgetful checkpoint wins."""
    base = make_task(seed=0)
    forget_class = int(base.forget[1][0])
    y = tiny_data.y.clone()
    y[tiny_split.validation] = forget_class
    shifted_task = UnlearnTask(
        _with_labels_or_inputs(tiny_data, y=y), tiny_split, base.train_spec, base.model_builder, torch.Generator().manual_seed(0)
    )
    normal = METHODS["scrub"](**REWIND).unlearn(tiny_original, base).diagnostics
    shifted = METHODS["scrub"](**REWIND).unlearn(tiny_original, shifted_task).diagnostics
    assert shifted["checkpoint_forget_errors"] == normal["checkpoint_forget_errors"]  # training ignores validation
    assert shifted["rewind_reference_error"] > normal["rewind_reference_error"]
    errors = normal["checkpoint_forget_errors"]
    assert errors[shifted["chosen_checkpoint"]] > errors[normal["chosen_checkpoint"]]
    assert rewind_reference_error(tiny_original, shifted_task) == shifted["rewind_reference_error"]


# --- l1-sparse ------------------------------------------------------------------------------


def test_l1_weight_decays_linearly_then_stops() -> None:
    weights = [l1_weight(0.1, epoch, 6, 2) for epoch in range(6)]
    assert weights == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0, 0.0])


def test_l1_sparse_without_penalty_is_fine_tuning(tiny_original, make_task) -> None:
    recipe = {"lr": 0.01, "epochs": 3, "batch_size": 16, "momentum": 0.9, "weight_decay": 5e-4}
    plain = METHODS["l1_sparse"](alpha=0.0, no_l1_epochs=1, **recipe).unlearn(tiny_original, make_task(seed=6)).model
    finetuned = METHODS["finetune"](**recipe).unlearn(tiny_original, make_task(seed=6)).model
    assert parameter_digest(plain) == parameter_digest(finetuned)


def test_l1_term_shrinks_weights_relative_to_fine_tuning(tiny_original, make_task) -> None:
    recipe = {"lr": 0.03, "epochs": 10, "batch_size": 16, "no_l1_epochs": 1}
    sparse = METHODS["l1_sparse"](alpha=0.01, **recipe).unlearn(tiny_original, make_task(seed=0))
    plain = METHODS["l1_sparse"](alpha=0.0, **recipe).unlearn(tiny_original, make_task(seed=0))
    norm_sparse = float(l1_norm(list(sparse.model.parameters())).detach())
    norm_plain = float(l1_norm(list(plain.model.parameters())).detach())
    assert 0.3 * norm_plain < norm_sparse < 0.95 * norm_plain
    assert sparse.diagnostics["l1_after"] == pytest.approx(norm_sparse)
    small = 1e-2
    near_zero_sparse = sum(int((p.abs() < small).sum()) for p in sparse.model.parameters())
    near_zero_plain = sum(int((p.abs() < small).sum()) for p in plain.model.parameters())
    assert near_zero_sparse > near_zero_plain


# --- Boundary shrink, UNSIR, bad teacher ---------------------------------------------------


def test_nearest_wrong_class_is_always_wrong(tiny_original, make_task) -> None:
    xf, yf = make_task().forget
    labels, crossed = nearest_wrong_class(tiny_original, xf, yf, bound=0.1)
    assert bool((labels != yf).all())
    assert labels.min() >= 0 and labels.max() < 4
    assert crossed.shape == yf.shape


def test_unsir_noise_maximises_the_loss_of_each_forget_label(tiny_original) -> None:
    labels = torch.tensor([0, 2])
    kwargs = {"per_label": 4, "shape": (1, 8, 8), "lr": 0.1, "l2": 0.1}
    trained, noise_labels = error_maximising_noise(
        tiny_original, labels, steps=25, generator=torch.Generator().manual_seed(0), **kwargs
    )
    start, _ = error_maximising_noise(tiny_original, labels, steps=0, generator=torch.Generator().manual_seed(0), **kwargs)
    assert noise_labels.tolist() == [0, 0, 0, 0, 2, 2, 2, 2]
    loss_trained = float(F.cross_entropy(predict_logits(tiny_original, trained), noise_labels))
    loss_start = float(F.cross_entropy(predict_logits(tiny_original, start), noise_labels))
    assert loss_trained > loss_start + 1.0


def test_unsir_makes_one_noise_block_per_forget_label(tiny_original, make_task, tiny_random_split) -> None:
    task = make_task(seed=0, split=tiny_random_split)
    n_labels = len(torch.unique(task.forget[1]))
    assert n_labels > 1
    result = METHODS["unsir"](noise_per_label=5).unlearn(tiny_original, task)
    assert result.diagnostics["noise_samples"] == 5 * n_labels


def test_unsir_honours_the_time_budget_across_phases(tiny_original, tiny_data, tiny_split, make_task) -> None:
    base = make_task(seed=0)
    task = UnlearnTask(tiny_data, tiny_split, base.train_spec, base.model_builder, torch.Generator().manual_seed(0), time_budget=0.0)
    result = METHODS["unsir"]().unlearn(tiny_original, task)
    assert result.diagnostics["impair_stopped_by_time_budget"] and result.diagnostics["repair_stopped_by_time_budget"]
    assert result.diagnostics["impair_steps"] == result.diagnostics["repair_steps"] == 0
    assert parameter_digest(result.model) == parameter_digest(tiny_original)


def test_bad_teacher_uses_the_requested_retain_fraction(tiny_original, make_task) -> None:
    task = make_task(seed=0)
    result = METHODS["bad_teacher"](retain_fraction=0.5).unlearn(tiny_original, task)
    assert result.diagnostics["retain_subset_size"] == round(0.5 * len(task.retain[1]))
