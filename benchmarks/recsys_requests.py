"""Single-user deletion requests at request scale: latency, where the deletion acts, and a stream (issue 14).

    python benchmarks/recsys_requests.py --data ml100k --model mf --requests 50 --quality-users 8 \
        --out .unlearnkit/requests_ml100k_mf.json

One original is trained (the recipe below, early-stopped on validation AUC).
Then, for every request, all training rows of one user are deleted and each
method unlearns them from that original (never from another method's output).

* **Latency**: a method's ``unlearn`` wall time minus its reported
  ``setup_seconds`` (work that depends only on the model and its training
  rows: the training index, the model's graph; reusable across requests and
  reported apart). Every method runs once untimed before the timed requests,
  and the methods alternate their order between requests, so no figure
  depends on what ran before. Median and p95 over the requests.
* **Quality** (the first ``--quality-users`` requests): two retrainings
  without the user, one with the original's seed (R) and one with another
  seed (R'). On the deleted user's interactions and on every other row of
  the items the user touched, the RMS logit distance d(., R); the share of
  the original's distance closed is 1 - d(U, R) / d(O, R), and the same
  share for R' is the retrain-vs-retrain noise floor (what seed noise alone
  "closes"). A loss-threshold membership AUC of the deleted interactions
  against the same users' test rows (pooled over users; match R's value),
  and the test AUC / Recall@20 / NDCG@20 differences from R as a utility
  guard, with the original's differences (doing nothing) next to them.
* **Speed-up**: mean retraining time over the quality users divided by the
  median per-request latency.
* **Stream** (``--stream``): the requests applied one after another to one
  model; drift against one retraining without all of those users (and its
  seed noise), and the total time, set-up included in every call.

Run with one thread (set below); results go to ``--out`` as JSON and a
summary to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unlearnkit.data.recsys import (
    InteractionData,
    InteractionSplitSpec,
    MovieLens100k,
    SyntheticInteractions,
    Users,
)
from unlearnkit.data.splits import Split
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.recsys import Ifru, RecommendationTask, Scif
from unlearnkit.metrics import recsys as fn
from unlearnkit.models.recsys import (
    LightGCN,
    MatrixFactorisation,
    Recommender,
    RecommenderBuilder,
    all_scores,
)
from unlearnkit.training.recsys import RecTrainSpec, fit_recommender, predict_rows

# Recipes: ML-100K ones are benchmarks/ml100k_ifru.toml's (chosen on validation AUC there); the ML-1M-shape
# LightGCN one is benchmarks/ml1m_shape_ifru.toml's; the ML-1M-shape MF one was chosen on validation AUC
# (see benchmarks/results/recsys_requests.md).
RECIPES: dict[tuple[str, str], tuple[RecommenderBuilder, RecTrainSpec]] = {
    ("ml100k", "mf"): (MatrixFactorisation(dim=64), RecTrainSpec(epochs=300, batch_size=2048, lr=3e-3, l2=0.1, patience=5)),
    ("ml100k", "lightgcn"): (LightGCN(dim=64, layers=1), RecTrainSpec(epochs=300, batch_size=8192, lr=1e-2, l2=0.03, patience=5)),
    ("ml1m_shape", "mf"): (MatrixFactorisation(dim=64), RecTrainSpec(epochs=300, batch_size=8192, lr=1e-2, l2=0.03, patience=3)),
    ("ml1m_shape", "lightgcn"): (LightGCN(dim=64, layers=1), RecTrainSpec(epochs=300, batch_size=8192, lr=1e-2, l2=0.03, patience=3)),
}

METHODS: dict[str, UnlearningMethod] = {
    "ifru": Ifru(),
    "ifru_reinit": Ifru(orphans="reinit"),
    "scif": Scif(),
}


def load(name: str) -> InteractionData:
    if name == "ml100k":
        return MovieLens100k().load()
    return SyntheticInteractions(n_users=6040, n_items=3706, n_rows=1_000_209, rank=16, signal=4.0, seed=0).load()


@dataclass
class Trained:
    model: Recommender
    seconds: float
    epochs: int


def train(builder: RecommenderBuilder, spec: RecTrainSpec, data: InteractionData, rows: np.ndarray, split: Split, seed: int) -> Trained:
    generator = torch.Generator().manual_seed(seed)
    model = builder.build(data.meta, generator)
    log = fit_recommender(model, data, rows, spec, generator, validation_rows=split.validation)
    return Trained(model, log.seconds, log.epochs_run)


def cached_original(
    args: argparse.Namespace, builder: RecommenderBuilder, spec: RecTrainSpec, data: InteractionData, base: Split
) -> Trained:
    """The original, trained here or loaded from ``--cache`` (its recorded training time and epochs with it)."""
    path = None
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)
        path = os.path.join(args.cache, f"original_{args.data}_{args.model}_{args.protocol}_{args.seed}_{data.fingerprint}.pt")
        if os.path.exists(path):
            saved = torch.load(path, weights_only=False)
            model = builder.build(data.meta, torch.Generator().manual_seed(args.seed))
            model.load_state_dict(saved["state"])
            model.condition_on(data, base.train)
            model.eval()
            return Trained(model, saved["seconds"], saved["epochs"])
    trained = train(builder, spec, data, base.train, base, args.seed)
    if path is not None:
        torch.save({"state": trained.model.state_dict(), "seconds": trained.seconds, "epochs": trained.epochs}, path)
    return trained


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).double().pow(2).mean().sqrt())


def share(distance_u: float, distance_o: float) -> float:
    return 1.0 - distance_u / distance_o


def utility(model: Recommender, data: InteractionData, split: Split, retain: np.ndarray) -> dict[str, float]:
    test = split.test
    scores = all_scores(model, torch.arange(data.n_users))
    seen = data.positives(retain)
    positives = data.positives(test)
    ranking = fn.ranking_metrics(scores, data.user[seen], data.item[seen], data.user[positives], data.item[positives], k=20)
    return {
        "test_auc": fn.pointwise_auc(predict_rows(model, data, test), data.label[test]),
        "recall20": ranking["recall"],
        "ndcg20": ranking["ndcg"],
    }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["ml100k", "ml1m_shape"], required=True)
    parser.add_argument("--model", choices=["mf", "lightgcn"], required=True)
    parser.add_argument("--protocol", choices=["unlearnkit", "ifru"], default="unlearnkit")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--quality-users", type=int, default=8)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--stream", type=int, default=0, help="apply this many requests one after another (0: skip)")
    parser.add_argument("--stream-methods", default="scif")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", help="directory to keep the trained original in (reused by later runs of the same setting)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = {name: METHODS[name] for name in args.methods.split(",")}
    builder, spec = RECIPES[(args.data, args.model)]
    report: dict[str, Any] = {
        "command": "python benchmarks/recsys_requests.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (None, "")
        ),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread, torch {torch.__version__}",
        "recipe": {"model": repr(builder), "train": repr(spec)},
    }

    tick = time.perf_counter()
    source = load(args.data)
    data, base = InteractionSplitSpec(seed=1024, protocol=args.protocol).build(source, Users(n_users=1))
    report["data"] = {"users": data.n_users, "items": data.n_items, "rows": len(data), "train": int(base.train.size),
                      "load_seconds": time.perf_counter() - tick}
    original = cached_original(args, builder, spec, data, base)
    report["original"] = {"seconds": original.seconds, "epochs": original.epochs,
                          "test_auc": fn.pointwise_auc(predict_rows(original.model, data, base.test), data.label[base.test])}
    print(f"original: {original.epochs} epochs, {original.seconds:.1f} s, test AUC {report['original']['test_auc']:.4f}", flush=True)

    # Users with training rows and test rows (the membership test needs the user's held-out rows).
    rng = np.random.RandomState(args.seed)
    train_users = np.bincount(data.user[base.train], minlength=data.n_users)
    test_users = np.bincount(data.user[base.test], minlength=data.n_users)
    eligible = np.flatnonzero((train_users >= 5) & (test_users >= 1))
    drawn = rng.choice(eligible, size=max(args.requests, args.stream) + 1, replace=False)
    warm_up_user, stream_users = int(drawn[0]), [int(u) for u in drawn[1:]]
    users = stream_users[: args.requests]
    by_user = {u: base.train[data.user[base.train] == u] for u in [warm_up_user, *stream_users]}

    def task_for(user: int, seed: int) -> RecommendationTask:
        return RecommendationTask(data, base.with_forget(by_user[user]), spec, builder, torch.Generator().manual_seed(seed))

    for method in methods.values():  # untimed: process-level warm-up (lazy initialisation in torch, scipy, sklearn)
        method.unlearn(original.model, task_for(warm_up_user, args.seed))

    timings: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    quality: list[dict[str, Any]] = []
    for position, user in enumerate(users):
        order = list(methods) if position % 2 == 0 else list(reversed(methods))
        results = {}
        for name in order:
            task = task_for(user, args.seed)  # a fresh generator per call: no method's draws depend on another's
            result = methods[name].unlearn(original.model, task)
            d = result.diagnostics
            timings[name].append({"total": result.seconds, "setup": d["setup_seconds"], "request": result.seconds - d["setup_seconds"],
                                  "solve": d["solve_seconds"], "parameters": d["n_parameters_kept"], "rows": d["n_curvature_rows"]})
            results[name] = result.model
        if position < args.quality_users:
            quality.append(measure_quality(data, base, task, original, results, builder, spec, args.seed))
            write(args.out, {**report, "quality_per_request": quality})  # partial results survive an interrupted run
            q = quality[-1]
            print(f"request {position} (user {user}, {by_user[user].size} rows): retrain {q['retrain_seconds']:.1f} s; "
                  + "; ".join(f"{k} user {v['user_share']:.2f} items {v['items_share']:.2f}" for k, v in q["shares"].items()), flush=True)
    report["timings"] = {
        name: {
            "median_request_ms": 1e3 * statistics.median(t["request"] for t in rows),
            "p95_request_ms": 1e3 * percentile([t["request"] for t in rows], 95),
            "median_setup_ms": 1e3 * statistics.median(t["setup"] for t in rows),
            "median_solve_ms": 1e3 * statistics.median(t["solve"] for t in rows),
            "median_parameters": statistics.median(t["parameters"] for t in rows),
            "median_curvature_rows": statistics.median(t["rows"] for t in rows),
            "requests": len(rows),
        }
        for name, rows in timings.items()
    }
    report["quality"] = summarise_quality(quality)
    if quality:
        retrain_seconds = statistics.mean(q["retrain_seconds"] for q in quality)
        for t in report["timings"].values():
            t["speedup_vs_one_retrain"] = retrain_seconds / (t["median_request_ms"] / 1e3)
        report["retrain_seconds_mean"] = retrain_seconds
    else:  # no retraining ran: the original's training (same recipe, every training row) stands in for one
        for t in report["timings"].values():
            t["speedup_vs_original_training"] = original.seconds / (t["median_request_ms"] / 1e3)
    if args.stream:
        report["stream"] = {
            name: run_stream(data, base, original, stream_users[: args.stream], by_user, METHODS[name], builder, spec, args.seed)
            for name in args.stream_methods.split(",")
        }
    write(args.out, {**report, "quality_per_request": quality})
    print(json.dumps({k: report[k] for k in ("timings", "quality")}, indent=1))
    if "stream" in report:
        print(json.dumps(report["stream"], indent=1))


def write(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)


def touched_rows(data: InteractionData, forget: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Every row (any split) of an item the deleted rows touch, except the deleted users' own rows."""
    items = np.unique(data.item[forget])
    return np.flatnonzero(np.isin(data.item, items) & ~np.isin(data.user, user))


def measure_quality(
    data: InteractionData,
    base: Split,
    task: RecommendationTask,
    original: Trained,
    unlearned: dict[str, Recommender],
    builder: RecommenderBuilder,
    spec: RecTrainSpec,
    seed: int,
) -> dict[str, Any]:
    split = task.split
    retain = split.retain
    retrained = train(builder, spec, data, retain, split, seed)
    other = train(builder, spec, data, retain, split, seed + 1000)
    forget = split.forget
    deleted_user = np.unique(data.user[forget])
    items = touched_rows(data, forget, deleted_user)
    test_rows = split.test[np.isin(data.user[split.test], deleted_user)]

    def logits(model: Recommender, rows: np.ndarray) -> torch.Tensor:
        return predict_rows(model, data, rows)

    reference = {"user": logits(retrained.model, forget), "items": logits(retrained.model, items)}
    original_distance = {k: rms(logits(original.model, r), reference[k]) for k, r in (("user", forget), ("items", items))}
    models = {"original": original.model, **unlearned, "retrain_other_seed": other.model}
    shares = {}
    membership = {}
    for name, model in {**models, "retrain": retrained.model}.items():
        if name != "retrain":
            shares[name] = {
                "user_share": share(rms(logits(model, forget), reference["user"]), original_distance["user"]),
                "items_share": share(rms(logits(model, items), reference["items"]), original_distance["items"]),
            }
        membership[name] = {
            "members": fn.bce_per_row(logits(model, forget), data.label[forget]).tolist(),
            "nonmembers": fn.bce_per_row(logits(model, test_rows), data.label[test_rows]).tolist(),
        }
    reference_utility = utility(retrained.model, data, split, retain)
    utilities = {
        name: {k: v - reference_utility[k] for k, v in utility(model, data, split, retain).items()} for name, model in models.items()
    }
    return {
        "user": int(deleted_user[0]), "rows": int(forget.size), "touched_rows": int(items.size),
        "retrain_seconds": (retrained.seconds + other.seconds) / 2, "retrain_epochs": [retrained.epochs, other.epochs],
        "original_distance": original_distance, "shares": shares, "membership": membership,
        "utility_minus_retrain": utilities, "retrain_utility": reference_utility,
    }


def summarise_quality(quality: list[dict[str, Any]]) -> dict[str, Any]:
    if not quality:
        return {}
    names = list(quality[0]["shares"])
    summary: dict[str, Any] = {}
    for name in names:
        user_shares = [q["shares"][name]["user_share"] for q in quality]
        item_shares = [q["shares"][name]["items_share"] for q in quality]
        utilities = {k: [q["utility_minus_retrain"][name][k] for q in quality] for k in ("test_auc", "recall20", "ndcg20")}
        summary[name] = {
            "user_share_mean": float(np.mean(user_shares)),
            "user_share_std": float(np.std(user_shares, ddof=1)) if len(quality) > 1 else 0.0,
            "items_share_mean": float(np.mean(item_shares)),
            "items_share_std": float(np.std(item_shares, ddof=1)) if len(quality) > 1 else 0.0,
            **{f"{k}_minus_retrain_mean": float(np.mean(v)) for k, v in utilities.items()},
            **{f"{k}_minus_retrain_max_abs": float(np.max(np.abs(v))) for k, v in utilities.items()},
        }
    for name in [*names, "retrain"]:
        members = np.concatenate([q["membership"][name]["members"] for q in quality])
        nonmembers = np.concatenate([q["membership"][name]["nonmembers"] for q in quality])
        summary.setdefault(name, {})["membership_auc"] = fn.membership_auc(members, nonmembers)
    summary["users"] = len(quality)
    return summary


def run_stream(
    data: InteractionData,
    base: Split,
    original: Trained,
    users: list[int],
    by_user: dict[int, np.ndarray],
    method: UnlearningMethod,
    builder: RecommenderBuilder,
    spec: RecTrainSpec,
    seed: int,
) -> dict[str, Any]:
    """The requests one after another on one model; drift against one retraining without all of them."""
    model, remaining = original.model, base.train
    total, setup = 0.0, 0.0
    for user in users:
        split = Split(len(data), remaining, by_user[user], base.validation, base.test)
        result = method.unlearn(model, RecommendationTask(data, split, spec, builder, torch.Generator().manual_seed(seed)))
        total += result.seconds
        setup += result.diagnostics["setup_seconds"]
        model, remaining = result.model, split.retain
    forget = np.concatenate([by_user[u] for u in users])
    final_split = base.with_forget(np.sort(forget))
    retrained = train(builder, spec, data, remaining, final_split, seed)
    other = train(builder, spec, data, remaining, final_split, seed + 1000)
    items = touched_rows(data, forget, np.asarray(users))
    out: dict[str, Any] = {"requests": len(users), "total_seconds": total, "setup_seconds_in_total": setup,
                           "retrain_seconds": retrained.seconds}
    for label, rows in (("deleted", forget), ("touched_items", items)):
        reference = predict_rows(retrained.model, data, rows)
        base_distance = rms(predict_rows(original.model, data, rows), reference)
        out[f"{label}_share"] = share(rms(predict_rows(model, data, rows), reference), base_distance)
        out[f"{label}_noise_floor_share"] = share(rms(predict_rows(other.model, data, rows), reference), base_distance)
    reference_utility = utility(retrained.model, data, final_split, remaining)
    for label, candidate in (("unlearned", model), ("original", original.model), ("retrain_other_seed", other.model)):
        remaining_utility = utility(candidate, data, final_split, remaining)
        out[f"{label}_utility_minus_retrain"] = {k: v - reference_utility[k] for k, v in remaining_utility.items()}
    return out


if __name__ == "__main__":
    main()
