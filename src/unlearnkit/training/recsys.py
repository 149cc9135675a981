"""The recommender training loop shared by the original model and retraining.

Adam on mini-batches of rows, BCE-with-logits on explicit labels (+ per-row
L2), full-graph propagation once per batch (as LightGCN-PyTorch and IFRU do),
early stopping on validation AUC with patience, returning the best
checkpoint. Every epoch that ran is timed, including those after the best
one that early stopping needed.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.errors import TrainingDivergedError
from unlearnkit.models.recsys.embedding import Recommender, as_pair_scorer, row_losses
from unlearnkit.params import Configurable, Interval, NoneOr
from unlearnkit.progress import Progress, SilentProgress


class RecTrainSpec(Configurable):
    """The recommender training recipe.

    ``patience`` (epochs without a better validation AUC) enables early
    stopping when validation rows are given; None trains every epoch and
    keeps the last one.
    """

    parameter_constraints = {
        "epochs": Interval(int, 1, 10_000),
        "batch_size": Interval(int, 1, None),
        "lr": Interval(float, 0.0, None, "neither"),
        "l2": Interval(float, 0.0, None),
        "patience": NoneOr(Interval(int, 1, 10_000)),
    }

    def __init__(
        self, *, epochs: int = 100, batch_size: int = 2048, lr: float = 1e-3, l2: float = 0.0, patience: int | None = 5
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.l2 = l2
        self.patience = patience


@dataclass(frozen=True)
class RecTrainLog:
    seconds: float  # every epoch that ran plus the validation passes early stopping needed
    epochs_run: int
    best_epoch: int  # 1-based epoch of the returned checkpoint
    best_validation_auc: float | None
    epoch_seconds: list[float] = field(default_factory=list)  # training time of each epoch (no evaluation)
    validation_aucs: list[float] = field(default_factory=list)


def rows_tensors(data: InteractionData, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    index = np.asarray(rows, dtype=np.int64)
    return (
        torch.as_tensor(data.user[index]),
        torch.as_tensor(data.item[index]),
        torch.as_tensor(data.label[index]),
    )


@torch.no_grad()
def predict_rows(model: torch.nn.Module, data: InteractionData, rows: np.ndarray, batch_size: int = 65536) -> torch.Tensor:
    """Logits of ``model.score`` on the given rows, in eval mode."""
    users, items, _ = rows_tensors(data, rows)
    was_training = model.training
    model.eval()
    try:
        scorer = as_pair_scorer(model)
        parts = [scorer.score(users[s : s + batch_size], items[s : s + batch_size]) for s in range(0, len(users), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else torch.zeros(0)


def rows_auc(model: torch.nn.Module, data: InteractionData, rows: np.ndarray) -> float:
    """Pointwise ROC-AUC of the model's logits against the rows' labels."""
    labels = data.label[rows]
    if np.unique(labels).size < 2:
        raise ValueError(f"AUC needs both labels among the {len(rows)} rows; got only {np.unique(labels).tolist()}")
    return float(roc_auc_score(labels, predict_rows(model, data, rows).numpy()))


def fit_recommender(
    model: Recommender,
    data: InteractionData,
    rows: np.ndarray,
    spec: RecTrainSpec,
    generator: torch.Generator,
    *,
    validation_rows: np.ndarray | None = None,
    progress: Progress | None = None,
    description: str = "train",
) -> RecTrainLog:
    """Train ``model`` in place on ``rows``; it is conditioned on their positive graph.

    With ``validation_rows`` and ``spec.patience`` the best-validation-AUC
    checkpoint is restored at the end.
    """
    spec.validate_params()
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise ValueError("cannot train a recommender on zero interactions")
    model.condition_on(data, rows)
    users, items, labels = rows_tensors(data, rows)
    optimizer = torch.optim.Adam([model.user_embedding, model.item_embedding], lr=spec.lr)
    validation = validation_rows if validation_rows is not None and len(validation_rows) > 0 else None
    patience = spec.patience
    early_stopping = validation is not None and patience is not None
    best_auc, best_epoch, best_state, stale = -1.0, spec.epochs, None, 0
    epoch_seconds, aucs = [], []
    start = time.perf_counter()
    model.train()
    with (progress or SilentProgress()).task(description, spec.epochs) as bar:
        for epoch in range(1, spec.epochs + 1):
            tick = time.perf_counter()
            order = torch.randperm(len(rows), generator=generator)
            for begin in range(0, len(rows), spec.batch_size):
                batch = order[begin : begin + spec.batch_size]
                loss = row_losses(
                    model.user_embedding, model.item_embedding, model.graph, model.layers,
                    users[batch], items[batch], labels[batch], spec.l2,
                ).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            epoch_seconds.append(time.perf_counter() - tick)
            bar.advance()
            if validation is None or patience is None:
                continue
            auc = rows_auc(model, data, validation)
            aucs.append(auc)
            if auc > best_auc:
                best_auc, best_epoch, stale = auc, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    if not torch.isfinite(model.user_embedding).all() or not torch.isfinite(model.item_embedding).all():
        raise TrainingDivergedError(f"{description}: embeddings became non-finite (learning rate too high?)")
    model.eval()
    return RecTrainLog(
        seconds=time.perf_counter() - start,
        epochs_run=len(epoch_seconds),
        best_epoch=best_epoch if early_stopping else len(epoch_seconds),
        best_validation_auc=best_auc if early_stopping else None,
        epoch_seconds=epoch_seconds,
        validation_aucs=aucs,
    )
