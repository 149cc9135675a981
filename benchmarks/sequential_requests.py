"""Sequential deletion requests: how far a chain of requests drifts from retraining, and what it costs.

Usage:
    python benchmarks/sequential_requests.py orl   [--seeds 0 1] [--workdir .unlearnkit/sequential]
    python benchmarks/sequential_requests.py ml100k [--seeds 0]  [--workdir .unlearnkit/sequential]
    python benchmarks/sequential_requests.py plot    (reads the JSON results, writes results/sequential.png)
    python benchmarks/sequential_requests.py tables  (prints the JSON results as the Markdown tables of results/sequential.md)

Every request goes through the same code path as ``unlearnkit forget``
(:func:`unlearnkit.requests.service.forget_from_files`): files in, an audited
checkpoint out, each request's record linked to the previous one (its
parent). Request k starts from request k-1's output checkpoint on the data
without everything deleted so far (ids index the data as it is then).

After request k the chain's model M_k is compared with R_k, a model retrained
from scratch on that same data with the original's recipe (seed 1000 + seed),
and the retrain-vs-retrain noise floor is the same comparison between R_k and
R'_k (seed 2000 + seed):

* (a) ORL faces (person_orl's split and recipe): 8 people removed one per
  request with amnesiac, scrub and eu_k (person_orl's tuned recipes, tuned
  there for removing 4 people at once; not re-tuned here). Gap = mean
  |difference| in points over accuracy on the deleted people's training
  photos, their never-trained photos, the retained photos and the other
  people's test photos, and the loss-threshold MIA AUC (deleted training
  photos vs test). Output distance = mean total-variation distance between
  the two models' softmax outputs, per example, over the deleted people's
  photos (training and never-trained) and over test photos.
* (b) MovieLens-100K (ml100k_ifru's split seed 1024 and MF recipe): 50 users
  deleted one per request with IFRU. R_k is trained after requests
  1, 2, 5, 10, 20, 30, 40, 50 (a retrain takes tens of seconds). Gap = |test
  AUC difference| in points; output distance = mean |sigma(s_M) - sigma(s_R)|
  per row over test rows and over the deleted users' training rows.

Time: the chain's total method time vs one retrain per request (ORL: the
measured R_k trainings; ML-100K: 50 x the mean measured retrain time).
Results go to benchmarks/results/sequential_{orl,ml100k}.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from safetensors.torch import save_file
from sklearn.metrics import roc_auc_score
from torch import nn

from unlearnkit.data.recsys.selectors import Users
from unlearnkit.data.recsys.sources import MovieLens100k
from unlearnkit.data.recsys.splitting import InteractionSplitSpec
from unlearnkit.data.selectors import WholeGroups
from unlearnkit.data.sources.orl_faces import OrlFaces
from unlearnkit.data.splitting import SplitSpec
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.attacks import loss_threshold_mia_auc
from unlearnkit.models.cnn import SmallCNN
from unlearnkit.models.recsys.embedding import MatrixFactorisation
from unlearnkit.requests.service import RequestFiles, forget_from_files
from unlearnkit.store.audit import audit_records
from unlearnkit.training.loop import TrainSpec, predict_logits, train_model
from unlearnkit.training.recsys import RecTrainSpec, fit_recommender, predict_rows

RESULTS = Path(__file__).resolve().parent / "results"

ORL_RECIPE = {"epochs": 40, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}
ORL_METHODS: dict[str, tuple[str, dict[str, Any]]] = {  # person_orl.toml's tuned recipes
    "amnesiac": ("amnesiac", {"lr": 0.003, "epochs": 5}),
    "scrub": ("scrub", {"alpha": 0.1, "msteps": 5, "epochs": 10}),
    "eu_k": ("eu_k", {"lr": 0.03, "epochs": 20}),
}
ML_RECIPE = {"epochs": 300, "batch_size": 2048, "lr": 3e-3, "l2": 0.1, "patience": 5}
ML_CHECKPOINTS = (1, 2, 5, 10, 20, 30, 40, 50)


def tv_distance(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean over examples of the total-variation distance between the two softmax outputs."""
    pa, pb = torch.softmax(logits_a.double(), 1), torch.softmax(logits_b.double(), 1)
    return float(0.5 * (pa - pb).abs().sum(1).mean())


# -- (a) ORL faces --------------------------------------------------------------------------------
def orl_setting(people: int = 8) -> tuple[Any, Any, list[int]]:
    data = OrlFaces(size=32).load()
    split = SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(data, WholeGroups(n_groups=people))
    groups = data.groups.numpy()
    chosen = np.unique(groups[split.forget])
    order = np.random.default_rng(0).permutation(chosen).tolist()
    return data, split, order


def orl_builder() -> SmallCNN:
    return SmallCNN(channels=16, hidden=128)


def orl_train(data: Any, rows: np.ndarray, seed: int) -> tuple[nn.Module, float]:
    model = orl_builder().build(data.meta, torch.Generator().manual_seed(seed))
    index = torch.as_tensor(rows)
    start = time.perf_counter()
    train_model(model, data.x[index], data.y[index], TrainSpec(**ORL_RECIPE), torch.Generator().manual_seed(seed))
    return model.eval(), time.perf_counter() - start


def orl_eval(model: nn.Module, data: Any, parts: dict[str, np.ndarray]) -> dict[str, Any]:
    logits = {name: predict_logits(model, data.x[torch.as_tensor(rows)]) for name, rows in parts.items()}
    labels = {name: data.y[torch.as_tensor(rows)] for name, rows in parts.items()}
    values = {f"{name}_acc": fn.accuracy(logits[name], labels[name]) for name in parts}
    values["mia_auc"] = loss_threshold_mia_auc(
        fn.per_example_loss(logits["deleted"], labels["deleted"]), fn.per_example_loss(logits["test"], labels["test"])
    )
    return {"values": values, "logits": logits}


def orl_compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    gap = 100.0 * float(np.mean([abs(a["values"][k] - b["values"][k]) for k in a["values"]]))
    people = torch.cat([a["logits"]["deleted"], a["logits"]["heldout"]]), torch.cat([b["logits"]["deleted"], b["logits"]["heldout"]])
    return {"gap": gap, "distance_deleted": tv_distance(*people), "distance_test": tv_distance(a["logits"]["test"], b["logits"]["test"])}


def orl_chain(workdir: Path, seed: int) -> dict[str, Any]:
    data, split, order = orl_setting()
    groups = data.groups.numpy()
    original, original_seconds = orl_train(data, split.train, seed)
    validation = split.validation
    np.savez(workdir / "orl_val.npz", x=data.x[torch.as_tensor(validation)].numpy(), y=data.y[torch.as_tensor(validation)].numpy())
    save_file(original.state_dict(), str(workdir / f"orl_seed{seed}_original.safetensors"))
    meta = data.meta

    def factory() -> nn.Module:
        return orl_builder().build(meta, torch.Generator().manual_seed(0))

    references, retrain_seconds = [], []
    for k in range(1, len(order) + 1):
        remaining = split.train[~np.isin(groups[split.train], order[:k])]
        reference, seconds = orl_train(data, remaining, 1000 + seed)
        twin, _ = orl_train(data, remaining, 2000 + seed)
        references.append((remaining, reference, twin))
        retrain_seconds.append(seconds)
    out: dict[str, Any] = {"seed": seed, "people": order, "original_seconds": original_seconds,
                           "retrain_seconds": retrain_seconds, "methods": {}, "noise": []}
    for k, (remaining, reference, twin) in enumerate(references, start=1):
        parts = orl_parts(split, groups, order[:k], remaining)
        out["noise"].append(orl_compare(orl_eval(twin, data, parts), orl_eval(reference, data, parts)))
    for label, (method, params) in ORL_METHODS.items():
        store = str(workdir / f"orl_seed{seed}_{label}.sqlite")
        checkpoint = workdir / f"orl_seed{seed}_original.safetensors"
        rows = split.train
        steps = []
        for k, person in enumerate(order, start=1):
            data_file = workdir / f"orl_seed{seed}_{label}_data{k}.npz"
            np.savez(data_file, x=data.x[torch.as_tensor(rows)].numpy(), y=data.y[torch.as_tensor(rows)].numpy())
            ids_file = workdir / f"orl_seed{seed}_{label}_ids{k}.txt"
            ids_file.write_text("".join(f"{i}\n" for i in np.flatnonzero(groups[rows] == person)))
            out_file = workdir / f"orl_seed{seed}_{label}_{k}.safetensors"
            files = RequestFiles(model_factory="benchmarks/sequential_requests.py:orl_builder", checkpoint=str(checkpoint),
                                 data=str(data_file), forget_ids=str(ids_file), out=str(out_file), store=store,
                                 validation=str(workdir / "orl_val.npz"))
            record, result = forget_from_files(files, method=method, params=params, recipe=ORL_RECIPE, seed=seed, factory=factory)
            remaining, reference, _ = references[k - 1]
            rows = rows[groups[rows] != person]
            assert np.array_equal(rows, remaining)
            parts = orl_parts(split, groups, order[:k], remaining)
            unlearned, retrained = orl_eval(result.model, data, parts), orl_eval(reference, data, parts)
            steps.append({"k": k, "seconds": record.method_seconds, "request_seconds": record.wall_seconds,
                          **orl_compare(unlearned, retrained),
                          "unlearned": unlearned["values"], "retrained": retrained["values"]})
            checkpoint = out_file
            last = steps[-1]
            print(f"orl seed {seed} {label} request {k}: gap {last['gap']:.2f} pts, "
                  f"distance {last['distance_deleted']:.3f}/{last['distance_test']:.3f}, {record.method_seconds:.2f} s", flush=True)
        chain = audit_records(store)
        links_ok = all(b.parent_id == a.request_id for a, b in itertools.pairwise(chain)) and chain[0].parent_id is None
        out["methods"][label] = {"method": method, "params": params, "steps": steps, "chain_records": len(chain), "chain_linked": links_ok}
    return out


def orl_parts(split: Any, groups: np.ndarray, deleted: list[int], remaining: np.ndarray) -> dict[str, np.ndarray]:
    heldout = split.heldout_forget
    return {
        "deleted": split.train[np.isin(groups[split.train], deleted)],
        "heldout": heldout[np.isin(groups[heldout], deleted)],
        "retain": remaining,
        "test": split.test,
    }


# -- (b) MovieLens-100K ---------------------------------------------------------------------------
def ml_fit(data: Any, rows: np.ndarray, validation: np.ndarray, seed: int) -> tuple[nn.Module, float]:
    model = MatrixFactorisation(dim=64).build(data.meta, torch.Generator().manual_seed(seed))
    log = fit_recommender(model, data, rows, RecTrainSpec(**ML_RECIPE), torch.Generator().manual_seed(seed), validation_rows=validation)
    return model, log.seconds


def ml_compare(a: nn.Module, b: nn.Module, data: Any, test: np.ndarray, deleted: np.ndarray) -> dict[str, float]:
    labels = data.label[test]
    sa, sb = predict_rows(a, data, test), predict_rows(b, data, test)
    da, db = predict_rows(a, data, deleted), predict_rows(b, data, deleted)
    return {
        "gap": 100.0 * abs(float(roc_auc_score(labels, sa.numpy())) - float(roc_auc_score(labels, sb.numpy()))),
        "test_auc": float(roc_auc_score(labels, sa.numpy())),
        "distance_test": float((torch.sigmoid(sa) - torch.sigmoid(sb)).abs().mean()),
        "distance_deleted": float((torch.sigmoid(da) - torch.sigmoid(db)).abs().mean()),
    }


def ml_chain(workdir: Path, seed: int, n_requests: int = 50) -> dict[str, Any]:
    data, split = InteractionSplitSpec(seed=1024).build(MovieLens100k().load(), Users(n_users=n_requests))
    users = np.random.default_rng(0).permutation(np.unique(data.user[split.forget])).tolist()
    original, original_seconds = ml_fit(data, split.train, split.validation, seed)
    save_file(original.state_dict(), str(workdir / f"ml_seed{seed}_original.safetensors"))
    val = split.validation
    np.savez(workdir / "ml_val.npz", user=data.user[val], item=data.item[val], label=data.label[val])
    store, checkpoint, rows = str(workdir / f"ml_seed{seed}_ifru.sqlite"), workdir / f"ml_seed{seed}_original.safetensors", split.train
    meta = data.meta

    def factory() -> nn.Module:
        return MatrixFactorisation(dim=64).build(meta, torch.Generator().manual_seed(0))

    steps, retrain_seconds, noise = [], [], []
    for k, user in enumerate(users, start=1):
        data_file = workdir / f"ml_seed{seed}_data{k}.npz"
        np.savez(data_file, user=data.user[rows], item=data.item[rows], label=data.label[rows])
        (workdir / f"ml_seed{seed}_ids{k}.txt").write_text(f"{user}\n")
        out_file = workdir / f"ml_seed{seed}_{k}.safetensors"
        files = RequestFiles(model_factory="benchmarks/sequential_requests.py:MatrixFactorisation(dim=64)", checkpoint=str(checkpoint),
                             data=str(data_file), forget_ids=str(workdir / f"ml_seed{seed}_ids{k}.txt"), out=str(out_file), store=store,
                             validation=str(workdir / "ml_val.npz"))
        record, result = forget_from_files(files, method="ifru", params={}, recipe=ML_RECIPE, forget_unit="users", seed=seed,
                                           factory=factory)
        rows = rows[data.user[rows] != user]
        checkpoint = out_file
        step: dict[str, Any] = {"k": k, "seconds": record.method_seconds, "request_seconds": record.wall_seconds}
        if k in ML_CHECKPOINTS:
            deleted = split.train[np.isin(data.user[split.train], users[:k])]
            unlearned = result.model
            unlearned.condition_on(data, rows)
            reference, seconds = ml_fit(data, rows, val, 1000 + seed)
            twin, _ = ml_fit(data, rows, val, 2000 + seed)
            retrain_seconds.append(seconds)
            step.update(ml_compare(unlearned, reference, data, split.test, deleted))
            step["reference_test_auc"] = ml_compare(reference, reference, data, split.test, deleted)["test_auc"]
            noise.append({"k": k, **ml_compare(twin, reference, data, split.test, deleted)})
            print(f"ml100k seed {seed} request {k}: AUC gap {step['gap']:.3f} pts (noise {noise[-1]['gap']:.3f}), "
                  f"distance {step['distance_deleted']:.4f}/{step['distance_test']:.4f}, {record.method_seconds:.2f} s", flush=True)
        steps.append(step)
    chain = audit_records(store)
    links_ok = all(b.parent_id == a.request_id for a, b in itertools.pairwise(chain)) and chain[0].parent_id is None
    return {"seed": seed, "users": users, "original_seconds": original_seconds, "retrain_seconds": retrain_seconds,
            "steps": steps, "noise": noise, "chain_records": len(chain), "chain_linked": links_ok}


# -- plot -----------------------------------------------------------------------------------------
def plot(path: Path) -> None:
    """Drift vs requests: ORL (top row, three methods) and MovieLens-100K (bottom row, IFRU); dashed: retrain vs retrain."""
    orl = json.loads((RESULTS / "sequential_orl.json").read_text())["runs"]
    ml = json.loads((RESULTS / "sequential_ml100k.json").read_text())["runs"]
    figure = Figure(figsize=(15, 8), layout="constrained")
    axes = figure.subplots(2, 3)
    keys = (("gap", "gap to retrain, points"), ("distance_deleted", "per-example distance to retrain,\ndeleted data"),
            ("distance_test", "per-example distance to retrain,\ntest data"))
    titles = {"gap": "accuracy / AUC gap", "distance_deleted": "deleted data", "distance_test": "test data"}
    colors = {"amnesiac": "tab:blue", "scrub": "tab:orange", "eu_k": "tab:green"}
    for axis, (key, ylabel) in zip(axes[0], keys, strict=True):
        for label, color in colors.items():
            curves = np.array([[step[key] for step in run["methods"][label]["steps"]] for run in orl])
            k = np.arange(1, curves.shape[1] + 1)
            axis.plot(k, curves.mean(0), marker="o", color=color, label=label)
            axis.fill_between(k, curves.min(0), curves.max(0), color=color, alpha=0.15)
        noise = np.array([[n[key] for n in run["noise"]] for run in orl])
        axis.plot(np.arange(1, noise.shape[1] + 1), noise.mean(0), color="black", linestyle="--", label="retrain vs retrain")
        axis.set(title=f"ORL: {titles[key]}", xlabel="requests so far", ylabel=ylabel)
    axes[0][0].legend(fontsize="small")
    axes[0][1].set_ylabel(axes[0][1].get_ylabel() + " (TV)")
    axes[0][2].set_ylabel(axes[0][2].get_ylabel() + " (TV)")
    for axis, (key, ylabel) in zip(axes[1], keys, strict=True):
        for index, run in enumerate(ml):
            points = [step for step in run["steps"] if "gap" in step]
            axis.plot([p["k"] for p in points], [p[key] for p in points], marker="o", color="tab:red", alpha=0.6 + 0.4 * (index == 0),
                      label="IFRU chain" if index == 0 else None)
            axis.plot([n["k"] for n in run["noise"]], [n[key] for n in run["noise"]], color="black", linestyle="--",
                      label="retrain vs retrain" if index == 0 else None)
        axis.set(title=f"MovieLens-100K: {titles[key]}", xlabel="requests so far",
                 ylabel=ylabel.replace("gap to retrain", "test AUC gap to retrain"))
    axes[1][0].legend(fontsize="small")
    axes[1][1].set_ylabel(axes[1][1].get_ylabel() + " (|Δσ|)")
    axes[1][2].set_ylabel(axes[1][2].get_ylabel() + " (|Δσ|)")
    figure.suptitle(
        f"Drift from retraining over sequential deletion requests.\nTop: ORL, 8 people one per request, {len(orl)} seeds "
        f"(mean, band min-max).\nBottom: MovieLens-100K MF + IFRU, 50 users one per request, seeds "
        f"{' and '.join(str(r['seed']) for r in ml)}. Dashed: retrain vs retrain (noise)."
    )
    figure.savefig(path, dpi=100)


def tables() -> str:
    """Markdown tables of the JSON results (what benchmarks/results/sequential.md shows)."""
    orl = json.loads((RESULTS / "sequential_orl.json").read_text())["runs"]
    lines = ["| requests | " + " | ".join(f"{m} gap" for m in ORL_METHODS) + " | noise gap | "
             + " | ".join(f"{m} dist. deleted / test" for m in ORL_METHODS) + " | noise dist. deleted / test |",
             "|---" * (2 * len(ORL_METHODS) + 3) + "|"]

    def cell(values: list[float], digits: int) -> str:
        return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else f"{values[0]:.{digits}f}"

    for k in range(len(orl[0]["people"])):
        gaps = [cell([run["methods"][m]["steps"][k]["gap"] for run in orl], 2) for m in ORL_METHODS]
        dists = [cell([run["methods"][m]["steps"][k]["distance_deleted"] for run in orl], 2) + " / "
                 + cell([run["methods"][m]["steps"][k]["distance_test"] for run in orl], 3) for m in ORL_METHODS]
        noise_deleted = cell([run["noise"][k]["distance_deleted"] for run in orl], 2)
        noise_test = cell([run["noise"][k]["distance_test"] for run in orl], 3)
        noise = [cell([run["noise"][k]["gap"] for run in orl], 2), f"{noise_deleted} / {noise_test}"]
        lines.append(f"| {k + 1} | " + " | ".join(gaps) + f" | {noise[0]} | " + " | ".join(dists) + f" | {noise[1]} |")
    lines += ["", "| method | chain: method time, s | chain: request wall time, s | one retrain per request, s | audit records linked |",
              "|---|---|---|---|---|"]
    for m in ORL_METHODS:
        method_time = [sum(step["seconds"] for step in run["methods"][m]["steps"]) for run in orl]
        wall = [sum(step["request_seconds"] for step in run["methods"][m]["steps"]) for run in orl]
        retrain = [sum(run["retrain_seconds"]) for run in orl]
        linked = all(run["methods"][m]["chain_linked"] and run["methods"][m]["chain_records"] == 8 for run in orl)
        chain = "8 of 8, each the previous one's child" if linked else "NO"
        lines.append(f"| {m} | {cell(method_time, 1)} | {cell(wall, 1)} | {cell(retrain, 1)} | {chain} |")
    ml_path = RESULTS / "sequential_ml100k.json"
    if ml_path.exists():
        for run in json.loads(ml_path.read_text())["runs"]:
            lines += ["", f"MovieLens-100K, seed {run['seed']}:", "",
                      "| requests | IFRU test AUC | retrain test AUC | AUC gap, points | noise AUC gap | IFRU dist. deleted / test "
                      "| noise dist. deleted / test | IFRU time so far, s |", "|---|---|---|---|---|---|---|---|"]
            noise = {n["k"]: n for n in run["noise"]}
            so_far = 0.0
            for step in run["steps"]:
                so_far += step["seconds"]
                if "gap" not in step:
                    continue
                n = noise[step["k"]]
                lines.append(f"| {step['k']} | {step['test_auc']:.4f} | {step['reference_test_auc']:.4f} | {step['gap']:.3f} "
                             f"| {n['gap']:.3f} "
                             f"| {step['distance_deleted']:.4f} / {step['distance_test']:.4f} "
                             f"| {n['distance_deleted']:.4f} / {n['distance_test']:.4f} | {so_far:.1f} |")
            total = sum(step["seconds"] for step in run["steps"])
            wall = sum(step["request_seconds"] for step in run["steps"])
            per_retrain = float(np.mean(run["retrain_seconds"]))
            lines += ["", f"Chain of {len(run['steps'])} requests: IFRU {total:.1f} s (request wall time {wall:.1f} s); one retrain per "
                      f"request: {len(run['steps'])} x {per_retrain:.1f} s (mean of {len(run['retrain_seconds'])} measured) = "
                      f"{len(run['steps']) * per_retrain:.0f} s; audit records: {run['chain_records']}, linked: {run['chain_linked']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("orl", "ml100k", "plot", "tables"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workdir", default=".unlearnkit/sequential")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.part == "plot":
        plot(RESULTS / "sequential.png")
        return
    if args.part == "tables":
        print(tables())
        return
    workdir = Path(args.workdir) / args.part
    shutil.rmtree(workdir, ignore_errors=True)  # this script's own scratch folder: every run starts clean
    workdir.mkdir(parents=True)
    chain = orl_chain if args.part == "orl" else ml_chain
    runs = [chain(workdir, seed) for seed in args.seeds]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"sequential_{args.part}.json").write_text(json.dumps({"runs": runs}, indent=1))


if __name__ == "__main__":
    main()
