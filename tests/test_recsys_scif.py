"""SCIF: the selective influence update, its local curvature, label replacement and re-initialised orphans.

Oracles: exact retraining of tiny converged L2-regularised models (where an
influence step should close a real share of the distance, and cannot close
all of it: the training Hessian still holds the deleted rows' curvature), and
early-stopped retraining of whole-user deletions on the tiny task.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from recsys_support import TINY_SPEC, builder
from test_recsys_influence import converge
from unlearnkit.data.recsys import (
    InteractionData,
    InteractionSplitSpec,
    RandomInteractions,
    SyntheticInteractions,
    Users,
)
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.recsys import (
    RecommendationTask,
    RetrainRec,
    Scif,
    train_original,
)
from unlearnkit.methods.recsys.gauss_newton import EmbeddingGaussNewton
from unlearnkit.methods.recsys.influence import replacement_labels
from unlearnkit.methods.recsys.neighbourhood import TrainingIndex
from unlearnkit.models.recsys import (
    LightGCN,
    MatrixFactorisation,
    Recommender,
    row_losses,
)
from unlearnkit.training.recsys import RecTrainSpec, predict_rows, rows_tensors


def distance(a: Recommender, b: Recommender, data: InteractionData, rows: np.ndarray) -> float:
    return float((predict_rows(a, data, rows) - predict_rows(b, data, rows)).norm())


def share_closed(unlearned: Recommender, original: Recommender, retrained: Recommender, data: InteractionData, rows: np.ndarray) -> float:
    return 1.0 - distance(unlearned, retrained, data, rows) / distance(original, retrained, data, rows)


@pytest.mark.parametrize(("kind", "band"), [("mf", (0.15, 0.6)), ("lightgcn", (0.3, 0.8))])
def test_scif_moves_forget_scores_toward_exact_retraining_of_a_converged_model(kind: str, band: tuple[float, float]) -> None:
    shares = []
    for seed in range(3):
        source = SyntheticInteractions(n_users=20, n_items=20, n_rows=320, rank=2, signal=6.0, seed=seed).load()
        data, split = InteractionSplitSpec(seed=seed).build(source, RandomInteractions(count=8))
        model_builder = MatrixFactorisation(dim=3) if kind == "mf" else LightGCN(dim=3, layers=1)
        original = model_builder.build(data.meta, torch.Generator().manual_seed(seed)).double()
        converge(original, data, split.train, 0.1)
        exact = copy.deepcopy(original)  # warm start: the optimum the influence step aims at
        converge(exact, data, split.retain, 0.1)
        task = RecommendationTask(data, split, RecTrainSpec(l2=0.1), model_builder, torch.Generator().manual_seed(0))
        result = Scif().unlearn(original, task)
        assert result.diagnostics["n_orphans_reinitialised"] == 0  # random rows orphan nobody here
        shares.append(share_closed(result.model, original, exact, data, split.forget))
    assert band[0] <= float(np.mean(shares)) <= band[1], shares


@pytest.mark.parametrize("kind", ["mf", "lightgcn"])
def test_scif_on_whole_user_deletion_lands_near_retraining_for_the_deleted_users(kind: str) -> None:
    """Deleted users keep no row: retraining leaves them at an initialisation, and so does SCIF ("reinit")."""
    source = SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, signal=8.0, seed=0).load()
    data, split = InteractionSplitSpec(seed=0).build(source, Users(n_users=2))
    reinit, keep = [], []
    for seed in range(3):
        task = RecommendationTask(data, split, TINY_SPEC, builder(kind), torch.Generator().manual_seed(seed))
        original = train_original(task)
        retrained = RetrainRec().unlearn(original, task).model
        result = Scif().unlearn(original, task)
        assert result.diagnostics["n_orphans_reinitialised"] == 2
        reinit.append(share_closed(result.model, original, retrained, data, split.forget))
        keep.append(share_closed(Scif(orphans="keep").unlearn(original, task).model, original, retrained, data, split.forget))
    assert 0.7 <= float(np.mean(reinit)) <= 1.0, reinit
    assert float(np.mean(keep)) <= 0.7, keep  # the influence step alone leaves deleted users near the original


def test_scif_touches_only_the_request_neighbourhood_and_reports_set_up_apart() -> None:
    source = SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, signal=8.0, seed=0).load()
    data, split = InteractionSplitSpec(seed=0).build(source, Users(n_users=1))
    task = RecommendationTask(data, split, TINY_SPEC, builder("mf"), torch.Generator().manual_seed(0))
    original = train_original(task)
    result = Scif().unlearn(original, task)
    user = np.unique(data.user[split.forget])
    items = np.unique(data.item[split.forget])
    moved_users = np.flatnonzero((result.model.user_embedding != original.user_embedding).any(1).numpy())
    moved_items = np.flatnonzero((result.model.item_embedding != original.item_embedding).any(1).numpy())
    assert moved_users.tolist() == user.tolist()
    assert set(moved_items.tolist()) <= set(items.tolist()) and moved_items.size > 0
    diagnostics = result.diagnostics
    assert diagnostics["n_curvature_rows"] < split.train.size  # the rows at the touched nodes only
    assert diagnostics["setup_seconds"] > 0 and diagnostics["request_seconds"] > 0
    assert diagnostics["setup_seconds"] + diagnostics["request_seconds"] <= result.seconds


def test_local_curvature_equals_the_curvature_over_every_row() -> None:
    source = SyntheticInteractions(n_users=30, n_items=20, n_rows=400, seed=1).load()
    data, split = InteractionSplitSpec(seed=1).build(source, Users(n_users=1))
    model = MatrixFactorisation(dim=3).build(data.meta, torch.Generator().manual_seed(0)).double()
    index = TrainingIndex.build(data, split.train)
    selection = index.importance_selection(split.forget, k_hops=0, keep_quantile=None)
    nodes = torch.as_tensor(np.concatenate([selection.users, selection.items + data.n_users]))
    n = int(split.train.size)
    every = rows_tensors(data, split.train)
    local = rows_tensors(data, index.rows_touching(nodes.numpy()))
    assert local[0].numel() < every[0].numel()
    tables = (model.user_embedding, model.item_embedding)
    for labels in (False, True):
        full = EmbeddingGaussNewton.build(*tables, None, 0, every[0], every[1], n, 0.1, nodes, every[2] if labels else None)
        near = EmbeddingGaussNewton.build(*tables, None, 0, local[0], local[1], n, 0.1, nodes, local[2] if labels else None)
        v = torch.randn(nodes.numel() * 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        torch.testing.assert_close(near(v), full(v))


def test_replacement_labels_use_the_user_mean_then_the_item_mean() -> None:
    # user 0: retained labels 1, 0 -> 0.5; user 2 keeps nothing -> item 1's retained labels 0, 1, 1 -> 2/3
    data = InteractionData("hand", [0, 0, 0, 1, 2, 3], [0, 1, 2, 1, 1, 1], [1, 0, 1, 1, 0, 1], n_users=4, n_items=3)
    labels = replacement_labels(data, np.array([0, 1, 3, 5]), np.array([2, 4]))
    assert labels.tolist() == pytest.approx([0.5, 2 / 3])
    with pytest.raises(InvalidParameterError, match="neither"):
        replacement_labels(data, np.array([3]), np.array([0]))  # user 0 and item 0 keep no row


def test_user_mean_replacement_approaches_training_with_the_replaced_labels() -> None:
    """SCIF's label replacement is an influence step towards the optimum with those rows relabelled by the user's mean."""
    shares = []
    for seed in range(3):
        source = SyntheticInteractions(n_users=20, n_items=20, n_rows=320, rank=2, signal=6.0, seed=seed).load()
        data, split = InteractionSplitSpec(seed=seed).build(source, RandomInteractions(count=8))
        model_builder = MatrixFactorisation(dim=3)
        original = model_builder.build(data.meta, torch.Generator().manual_seed(seed)).double()
        converge(original, data, split.train, 0.1)
        users, items, labels = rows_tensors(data, split.train)
        soft = labels.double()
        soft[torch.as_tensor(np.searchsorted(split.train, split.forget))] = replacement_labels(data, split.retain, split.forget).double()
        relabelled = copy.deepcopy(original)
        params = [relabelled.user_embedding, relabelled.item_embedding]
        optimizer = torch.optim.LBFGS(
            params, lr=1, max_iter=2000, tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe"
        )

        rows = (users, items, soft)

        def closure(
            model: Recommender = relabelled, optimizer: torch.optim.LBFGS = optimizer, rows: tuple[torch.Tensor, ...] = rows
        ) -> torch.Tensor:
            optimizer.zero_grad()
            loss = row_losses(model.user_embedding, model.item_embedding, None, 0, *rows, 0.1).mean()
            loss.backward()
            return loss

        optimizer.step(closure)
        task = RecommendationTask(data, split, RecTrainSpec(l2=0.1), model_builder, torch.Generator().manual_seed(0))
        replaced = Scif(replace_labels="user_mean").unlearn(original, task).model
        shares.append(share_closed(replaced, original, relabelled, data, split.forget))
    assert 0.6 <= float(np.mean(shares)) <= 0.95, shares


def test_neighbourhood_gradient_gives_the_same_update_as_the_global_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from unlearnkit.methods.recsys.influence import InfluenceSettings

    source = SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, signal=8.0, seed=0).load()
    data, split = InteractionSplitSpec(seed=0).build(source, Users(n_users=2))
    model_builder = LightGCN(dim=4, layers=2)
    task = RecommendationTask(data, split, TINY_SPEC, model_builder, torch.Generator().manual_seed(0))
    original = train_original(task).double()
    original.graph = original.graph.double()  # a plain attribute: .double() leaves it alone
    local = Scif(orphans="keep").unlearn(original, task)
    monkeypatch.setattr(InfluenceSettings, "local_gradient", lambda self, model: False)
    everywhere = Scif(orphans="keep").unlearn(original, task)
    assert local.diagnostics["removal_gradient_norm"] > 0
    assert local.diagnostics["removal_gradient_norm"] == pytest.approx(everywhere.diagnostics["removal_gradient_norm"], rel=1e-10)
    torch.testing.assert_close(local.model.user_embedding, everywhere.model.user_embedding)
    torch.testing.assert_close(local.model.item_embedding, everywhere.model.item_embedding)


@pytest.mark.parametrize("labelled", [False, True])
def test_node_blocks_give_the_same_curvature_as_the_rows(labelled: bool) -> None:
    from unlearnkit.methods.recsys.gauss_newton import (
        BlockCurvature,
        NodeBlocks,
        RowCurvature,
    )

    source = SyntheticInteractions(n_users=30, n_items=20, n_rows=400, seed=2).load()
    data, split = InteractionSplitSpec(seed=2).build(source, Users(n_users=2))
    model = MatrixFactorisation(dim=3).build(data.meta, torch.Generator().manual_seed(0)).double()
    index = TrainingIndex.build(data, split.train)
    selection = index.importance_selection(split.forget, k_hops=0, keep_quantile=None)
    nodes = torch.as_tensor(np.concatenate([selection.users, selection.items + data.n_users]))
    n, l2 = int(split.train.size), 0.1
    tables = (model.user_embedding, model.item_embedding)
    local = rows_tensors(data, index.rows_touching(nodes.numpy()))
    reference = EmbeddingGaussNewton.build(*tables, None, 0, local[0], local[1], n, l2, nodes, local[2] if labelled else None)
    selected = np.isin(np.arange(data.n_users + data.n_items), nodes.numpy())
    rows = index.rows_touching(nodes.numpy())
    between = rows[selected[data.user[rows]] & selected[data.item[rows] + data.n_users]]
    assert 0 < between.size < rows.size
    b = rows_tensors(data, between)
    blocks = NodeBlocks.build(*tables, index.node_start, index.node_others, n, l2)
    product = BlockCurvature(blocks, RowCurvature.build(*tables, None, 0, b[0], b[1], n, l2, b[2] if labelled else None), nodes)
    v = torch.randn(nodes.numel() * 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(product(v), reference(v))
    torch.testing.assert_close(product.diagonal_preconditioner(1e-3)(v), reference.diagonal_preconditioner(1e-3)(v))
    torch.testing.assert_close(product.block_preconditioner(1e-3)(v), reference.block_preconditioner(1e-3)(v))


def test_scif_with_and_without_node_blocks_agree() -> None:
    source = SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, signal=8.0, seed=0).load()
    data, split = InteractionSplitSpec(seed=0).build(source, Users(n_users=2))
    task = RecommendationTask(data, split, TINY_SPEC, builder("mf"), torch.Generator().manual_seed(0))
    original = train_original(task)
    fast = Scif().unlearn(original, RecommendationTask(data, split, TINY_SPEC, builder("mf"), torch.Generator().manual_seed(0)))
    task = RecommendationTask(data, split, TINY_SPEC, builder("mf"), torch.Generator().manual_seed(0))
    slow = Scif(node_blocks=False).unlearn(original, task)
    assert fast.diagnostics["n_curvature_rows"] < slow.diagnostics["n_curvature_rows"]
    torch.testing.assert_close(fast.model.user_embedding, slow.model.user_embedding, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(fast.model.item_embedding, slow.model.item_embedding, rtol=1e-4, atol=1e-6)
