"""Score method settings on a config's *tuning* seed, on validation data only (no test data is read).

Used to choose the constants of the derived default hyper-parameters
(``unlearnkit.methods.defaults``): for every method block of CONFIG it runs
the method once on the tuning seed's original, and prints the selection gap
(the ``tune`` criterion: forget / retain / validation accuracy and a
validation MIA, against the tuning seed's retrained model), retain and
validation accuracy relative to the original's, the time relative to
retraining, and the hyper-parameters the method actually used.

    python benchmarks/defaults_probe.py benchmarks/tuning/fmnist_random_derived.toml \
        --store .unlearnkit/probe.sqlite [--method LABEL ...]

(CONFIG's method blocks must leave the hyper-parameters to be derived unset, as
``fmnist_random_derived.toml`` and ``person_orl_defaults.toml`` do; the probe runs
with one PyTorch thread.)

Extra settings can be tried without editing the config: ``--set LABEL:key=value``
(repeatable; values are parsed as TOML, e.g. ``--set finetune:lr=0.02``).
"""

from __future__ import annotations

import argparse
import json
import tomllib
from typing import Any

import torch

from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.executor import Job
from unlearnkit.experiment.keys import derive_seed
from unlearnkit.experiment.runner import Runner
from unlearnkit.experiment.sweep import RunSummary
from unlearnkit.experiment.units import Plan, TrainedState
from unlearnkit.kinds.base import Evaluated
from unlearnkit.metrics import functional as fn
from unlearnkit.progress import SilentProgress
from unlearnkit.store.sqlite import SQLiteStore


def parse_overrides(values: list[str]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for value in values:
        label, assignment = value.split(":", 1)
        key, raw = assignment.split("=", 1)
        overrides.setdefault(label, {})[key] = tomllib.loads(f"v = {raw}")["v"]
    return overrides


def tuning_models(runner: Runner, plan: Plan, seed: int) -> tuple[Evaluated[Any], Evaluated[Any], float]:
    """The tuning seed's original and retrained model with their outputs (trained, or read from the store's cache),
    and retraining's time."""
    sweep = runner.sweep(RunSummary())
    jobs = {role: sweep.model(plan, role, seed) for role in ("original", "reference")}
    failures = runner.execute(sweep)
    if failures:
        raise SystemExit(f"training the tuning seed's models failed: {failures[0].error}")
    context = runner.context()

    def evaluated(job: Job, role: str) -> tuple[Evaluated[Any], float]:
        stored = runner.store.load_model(job.key)
        if stored is None:
            raise SystemExit(f"the store has no {role} model {job.key} after training it")
        state, meta = stored
        return context.plans.evaluated(plan, TrainedState(job.key, role, state, meta)), float(meta["seconds"])

    original, _ = evaluated(jobs["original"], "original")
    reference, seconds = evaluated(jobs["reference"], "reference")
    return original, reference, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--store", required=True)
    parser.add_argument("--tuning-seed", type=int, default=1000)
    parser.add_argument("--method", action="append", help="only these labels (repeatable)")
    parser.add_argument("--set", action="append", default=[], help="LABEL:key=value override (repeatable)")
    parser.add_argument("--json", help="append one JSON line per setting to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = parse_overrides(args.set)
    runner = Runner(SQLiteStore(args.store))
    for position, config in enumerate(load_config(args.config)):
        plan = runner.plan(position, config)
        kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
        original, reference, reference_seconds = tuning_models(runner, plan, args.tuning_seed)
        original_outputs, reference_outputs = original.outputs, reference.outputs
        unlearn_seed = derive_seed(args.tuning_seed, "unlearn")
        base_retain = fn.accuracy(original_outputs.logits["retain"], original_outputs.labels["retain"])
        base_gap = kind.selection_gap(prepared, original_outputs, reference_outputs, args.tuning_seed)
        print(f"# {config.name} seed {args.tuning_seed}: original gap {base_gap:.2f}, retrain {reference_seconds:.1f}s")
        for label, method in resolved.methods:
            if args.method and label not in args.method:
                continue
            params = {**method.get_params(), **overrides.get(label, {})}
            candidate = type(method).from_params(params)
            generator = torch.Generator().manual_seed(unlearn_seed)
            task = kind.task(resolved, prepared, generator, SilentProgress())
            result = candidate.unlearn(original.model, task)
            outputs = kind.outputs(result.model, prepared)
            gap = kind.selection_gap(prepared, outputs, reference_outputs, args.tuning_seed)
            row = {
                "experiment": config.name,
                "label": label,
                "gap": round(gap, 2),
                "closed": round(1 - gap / base_gap, 3),
                "retain_rel": round(fn.accuracy(outputs.logits["retain"], outputs.labels["retain"]) / base_retain, 3),
                "val_acc": round(fn.accuracy(outputs.logits["validation"], outputs.labels["validation"]), 3),
                "forget_acc": round(fn.accuracy(outputs.logits["forget"], outputs.labels["forget"]), 3),
                "time_frac": round(result.seconds / reference_seconds, 3),
                "params": result.diagnostics.get("resolved_params", params),
                "overrides": overrides.get(label, {}),
                "diagnostics": {k: v for k, v in result.diagnostics.items() if isinstance(v, (int, float, bool, str))},
            }
            print(
                f"{label:24s} gap {row['gap']:6.2f} closed {row['closed']:6.3f} retain/orig {row['retain_rel']:.3f} "
                f"val {row['val_acc']:.3f} forget {row['forget_acc']:.3f} time {row['time_frac']:.3f} {row['overrides'] or ''}",
                flush=True,
            )
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(row, default=str) + "\n")


if __name__ == "__main__":
    main()
