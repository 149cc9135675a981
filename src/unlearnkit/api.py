"""The public Python API: answer a deletion request on a model of your own.

>>> result = unlearnkit.unlearn(model, (x, y), forget_ids, method="scrub", validation=(x_val, y_val))
>>> result.model, result.seconds, result.metrics["after"]["forget_accuracy"]
"""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from unlearnkit.requests.base import DeletionResult
from unlearnkit.requests.run import plan_request, run_request
from unlearnkit.requests.selection import check_selectable, check_selection

__all__ = ["DeletionResult", "unlearn"]


def unlearn(
    model: nn.Module,
    train_data: Any,
    forget_ids: Any,
    *,
    method: str,
    validation: Any = None,
    recipe: Any = None,
    model_factory: Any = None,
    forget_unit: Literal["rows", "users"] = "rows",
    seed: int = 0,
    select: Literal["oracle_free"] | None = None,
    budget: int | None = None,
    tolerance: float | None = None,
    training_seconds: float | None = None,
    **hyper_parameters: Any,
) -> DeletionResult:
    """Remove ``forget_ids`` of ``train_data`` from ``model`` with ``method``; the caller's model is never modified.

    Args:
        model: the trained ``torch.nn.Module`` (on the CPU). A classifier maps
            a batch ``(N, ...)`` to logits ``(N, classes)``; methods that work
            on the penultimate layer or the last k layers (``cf_k``, ``eu_k``,
            DLFD's penultimate mode, ...) need it built as
            ``unlearnkit.models.Classifier(body, head)`` and say so otherwise.
            An ``unlearnkit.models.recsys.Recommender`` makes it a
            recommendation request.
        train_data: the data the model was trained on: a
            ``torch.utils.data.Dataset`` of ``(x, y)`` pairs or a pair
            ``(x, y)`` of tensors/arrays (x floating point of any per-example
            shape, y integer class indices); for a recommender a triple of
            integer arrays ``(user, item, label)`` with 0/1 labels. Held in memory.
        forget_ids: indices into ``train_data`` of the examples (rows) to
            forget, or user ids with ``forget_unit="users"`` (recommenders).
            Integers, distinct, in range, at least one.
        method: a registered method of the model's kind (``unlearnkit list methods``).
        validation: data of the same form the model never trained on. The
            verification's membership attack compares forget with validation
            examples, and some methods need it (SCRUB's rewind, DLFD; a
            recommender's early stopping when retraining).
        recipe: how the model was trained, a ``unlearnkit.training.TrainSpec``
            (recommenders: ``unlearnkit.training.recsys.RecTrainSpec``).
            Only methods that read it need it (``retrain`` trains from scratch
            with it; ``influence`` takes its weight decay as the L2 strength
            unless ``l2`` is given); without it they raise
            ``MissingRecipeError`` naming the method, and every other method runs.
        model_factory: a callable returning the untrained model, for methods
            that train a fresh copy (``retrain``, ``eu_k``, ``bad_teacher``).
            Without it the copy is your model re-initialised with PyTorch's
            default scheme (Linear, Conv, norm layers; a model with other
            parameterised layers is refused and asks for a factory). With it,
            those layers of the factory's model are re-drawn from ``seed``
            and the others keep the factory's initialisation.
        forget_unit: ``"rows"`` (default) or ``"users"`` (recommenders only).
        seed: seeds every random choice of the method (and of the selection).
        select: ``"oracle_free"`` chooses the method's hyper-parameters
            without a retrained model: the configured setting (the given
            hyper-parameters, defaults for the rest) and up to ``budget - 1``
            seeded grid points of the method's search space are each run on
            ``model`` (which stays untouched) and scored by how alike the forget and the
            ``validation`` examples' losses are, and by the validation and
            retain accuracy kept (:mod:`unlearnkit.metrics.oracle_free`),
            plus a time term when ``training_seconds`` is given; a setting
            whose validation accuracy (a recommender's: AUC) is more than
            ``tolerance`` of the original's below it (beyond two standard
            errors) is not chosen. The request then runs with the chosen
            setting exactly as a call naming it would. Needs ``validation``
            (never-trained examples of the training distribution, at least
            2; for deleted users, 2 rows of theirs) and a method with a search space. Default None: no selection.
        budget: how many settings ``select`` tries, including the configured
            one (default 6 with ``select``; refused without it). The
            selection costs about ``budget`` runs of the method.
        tolerance: the share of the original's validation accuracy (AUC for
            recommenders) a setting may lose and stay selectable, in [0, 1)
            (default 0.05 with ``select``; refused without it), as
            ``tune --oracle-free --utility-tolerance``.
        training_seconds: how long training the original took, in seconds
            (finite, above 0), if you know it: then each setting's score also
            pays ``0.1 x`` its seconds over this (a setting as slow as
            retraining pays what 10 points of KS cost), the time term of
            ``tune --oracle-free``. Default None: no time term (only read
            with ``select``).
        **hyper_parameters: the method's hyper-parameters, validated before
            anything runs (an unknown name lists the allowed ones and
            suggests the closest).

    Returns:
        A :class:`DeletionResult` with the new ``model``, the method's
        ``seconds``, verification ``metrics`` before and after (forget /
        retain / validation accuracy and loss, ``mia_auc``: the
        loss-threshold attack's AUC of forget vs validation examples),
        ``method`` and the full ``params``; with ``select``, ``selection``
        holds the chosen setting and every trial's score.

    Every bad input raises an ``unlearnkit.errors.UnlearnkitError`` naming
    the argument, what is allowed and what was given, before any work.
    """
    selection = check_selection(select, budget=budget, tolerance=tolerance, training_seconds=training_seconds)
    adapter, plan = plan_request(
        model, train_data, forget_ids, method=method, validation=validation, recipe=recipe,
        model_factory=model_factory, forget_unit=forget_unit, seed=seed, params=hyper_parameters,
    )
    if selection is not None:
        check_selectable(plan, validation is not None)
    return run_request(adapter, plan, seed, selection)
