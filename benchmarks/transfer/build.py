"""Write the transfer benchmark configs: a tuning case and the unseen cases its recipes are judged on.

Usage:
    python benchmarks/transfer/build.py tune BENCH   # -> benchmarks/transfer/BENCH.tune.toml
    python benchmarks/transfer/build.py eval BENCH   # -> benchmarks/transfer/BENCH.toml (needs the recipes)

BENCH is one of person_orl, photos_orl, fmnist_class, fmnist_random_10k. The tuning case
is the benchmark itself (its forget set and split; the recipes are chosen on
tuning seed 1000 and the tuned-case rows use its evaluation seeds 0-2). The
unseen cases change what is forgotten (other people, other classes, other
random forget sets) *and* the split seed (other test/validation/train
samples), each with model seeds 11 and 12: 5 forget sets x 2 seeds = 10
unseen cases (4 x 2 = 8 on fmnist_random_10k; on photos_orl the split seed alone changes
which 8 people lose half their photos). Every method appears once per recipe: its defaults, the recipe
`unlearnkit tune` chose against a retrained model (``recipes/BENCH.oracle.toml``)
and the one `tune --oracle-free` chose (``recipes/BENCH.oracle_free.toml``),
both with ``--budget 8`` from the defaults; identical recipes share one row
whose label names every selection it stands for (e.g. ``ct_oracle+oraclefree``).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
UNSEEN_SEEDS = [11, 12]
TUNED_SEEDS = [0, 1, 2]
METRICS = ["retain_acc", "forget_acc", "test_acc", "mia_efficacy", "avg_gap", "mia_loss", "wall_time", "speedup"]

# Methods compared: the suite's strongest on each benchmark (the whole suite does not fit the shared machine);
# on 10 % random forgetting the five with the best gap closed at a small time fraction in BENCHMARKS.md, and
# heldout_match (the frontier method of benchmarks/results/frontier_10k.md).
CLASS_LEVEL = ["random_label", "salun", "scrub", "amnesiac", "boundary_shrink", "unsir", "ct", "neggrad_plus"]
METHODS = {
    "person_orl": CLASS_LEVEL,
    "fmnist_class": CLASS_LEVEL,
    "fmnist_random_10k": ["random_label", "salun", "amnesiac", "bad_teacher", "ct", "heldout_match"],
    # Forgetting some photos of people who stay is sample-level forgetting: the same methods as random forgetting.
    "photos_orl": ["random_label", "salun", "amnesiac", "bad_teacher", "ct", "heldout_match"],
}

# (tag, forget selector, split seed) of every unseen forget set; none repeats the tuning case's.
UNSEEN: dict[str, list[tuple[str, dict[str, Any], int]]] = {
    # The tuning case forgets people 16, 21, 31 and 38 (n_groups = 4 with split seed 0).
    "person_orl": [
        (f"p{'_'.join(map(str, groups))}", {"name": "groups", "groups": groups}, split_seed)
        for groups, split_seed in [
            ([0, 9, 22, 33], 1), ([3, 17, 26, 35], 2), ([5, 12, 27, 39], 3), ([1, 14, 29, 36], 4), ([7, 19, 24, 30], 5)
        ]
    ],
    # The tuning case forgets half the photos of the 8 people split seed 0 draws; each unseen split seed draws others.
    "photos_orl": [
        (f"s{split_seed}", {"name": "group_samples", "n_groups": 8, "fraction": 0.5}, split_seed) for split_seed in range(1, 6)
    ],
    # The tuning case forgets class 2 (pullover).
    "fmnist_class": [
        (f"c{label}", {"name": "classes", "classes": [label]}, split_seed)
        for label, split_seed in [(0, 1), (3, 2), (4, 3), (6, 4), (8, 5)]
    ],
    # The tuning case forgets 10 % of a 10,000-image subset drawn with split seed 0 (4 unseen sets: each case
    # retrains a 10,000-image model, several minutes on the shared machine).
    "fmnist_random_10k": [(f"s{split_seed}", {"name": "random", "fraction": 0.1}, split_seed) for split_seed in range(1, 5)],
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)


def _experiment(name: str, base: dict[str, Any], seeds: list[int], forget: dict[str, Any], split_seed: int) -> list[str]:
    lines = ["[[experiment]]", f'name = "{name}"', f'goal = "{base["goal"]}"', f"seeds = {_value(seeds)}"]
    lines.append(f"dataset = {_value(base['dataset'])}")
    lines.append(f"split = {_value({**base['split'], 'seed': split_seed})}")
    lines.append(f"forget = {_value(forget)}")
    lines.append(f"model = {_value(base['model'])}")
    lines.append(f"train = {_value(base['train'])}")
    metrics = METRICS[:3] + (["heldout_forget_acc"] if forget["name"] != "random" else []) + METRICS[3:]
    lines.append(f"metrics = {_value(metrics)}")
    return lines


def _method(name: str, label: str | None, params: dict[str, Any]) -> list[str]:
    lines = ["", "[[experiment.methods]]", f'name = "{name}"']
    if label is not None:
        lines.append(f'label = "{label}"')
    return lines + [f"{key} = {_value(value)}" for key, value in params.items()]


def _base(bench: str) -> dict[str, Any]:
    with open(BENCHMARKS / f"{bench}.toml", "rb") as handle:
        (experiment,) = tomllib.load(handle)["experiment"]
    return dict(experiment)


def _recipes(bench: str, which: str) -> dict[str, dict[str, Any]]:
    """Method name -> the non-default parameters `tune` selected (an empty dict when it kept the defaults)."""
    path = HERE / "recipes" / f"{bench}.{which}.toml"
    with open(path, "rb") as handle:
        blocks = tomllib.load(handle).get("experiment", {}).get("methods", [])
    recipes = {block.pop("name"): block for block in blocks}
    missing = sorted(set(METHODS[bench]) - set(recipes) - _kept_configured(path))
    if missing:
        sys.exit(f"{path}: no recipe for {missing}")
    return {method: recipes.get(method, {}) for method in METHODS[bench]}


def _kept_configured(path: Path) -> set[str]:
    """Methods for which `tune` selected nothing (it writes a comment and keeps the configured defaults)."""
    return {line[2:].split(":")[0] for line in path.read_text(encoding="utf-8").splitlines() if "configured recipe kept" in line}


def tuning_config(bench: str) -> str:
    base = _base(bench)
    lines = [
        f"# Tuning case of the transfer benchmark {bench} (written by benchmarks/transfer/build.py): the benchmark's",
        "# own forget set and split, every compared method at its defaults (the start of the candidate grid).",
        "#   unlearnkit tune benchmarks/transfer/" + bench + ".tune.toml --budget 8 --store STORE \\",
        "#       --output benchmarks/transfer/recipes/" + bench + ".oracle.toml",
        "#   unlearnkit tune benchmarks/transfer/" + bench + ".tune.toml --budget 8 --store STORE --oracle-free \\",
        "#       --output benchmarks/transfer/recipes/" + bench + ".oracle_free.toml",
        "",
        *_experiment(f"{bench}_tuning", base, TUNED_SEEDS, base["forget"], base["split"].get("seed", 0)),
    ]
    for method in METHODS[bench]:
        lines += _method(method, None, {})
    return "\n".join(lines) + "\n"


def evaluation_config(bench: str) -> str:
    base = _base(bench)
    defaults: dict[str, dict[str, Any]] = {method: {} for method in METHODS[bench]}
    selections = {"default": defaults, "oracle": _recipes(bench, "oracle"), "oraclefree": _recipes(bench, "oracle_free")}
    methods: list[str] = []
    for method in METHODS[bench]:
        rows: dict[str, list[str]] = {}  # recipe (as TOML) -> the selections that chose it
        params_of: dict[str, dict[str, Any]] = {}
        for which, recipes in selections.items():
            key = _value(recipes[method])
            rows.setdefault(key, []).append(which)
            params_of[key] = recipes[method]
        for key, which in rows.items():
            methods += _method(method, f"{method}_{'+'.join(which)}", params_of[key])
    cases = [(f"{bench}_tuned", TUNED_SEEDS, base["forget"], base["split"].get("seed", 0))]
    cases += [(f"{bench}_{tag}", UNSEEN_SEEDS, forget, split_seed) for tag, forget, split_seed in UNSEEN[bench]]
    lines = [
        f"# Transfer benchmark {bench} (written by benchmarks/transfer/build.py; see its docstring and",
        f"# benchmarks/results/transfer_{bench}.md): recipes tuned on the tuning case (tuning seed 1000) and run on",
        f"# the tuned case (seeds {TUNED_SEEDS}) and on {len(UNSEEN[bench])} unseen forget sets x seeds {UNSEEN_SEEDS}.",
    ]
    for name, seeds, forget, split_seed in cases:
        lines += ["", *_experiment(name, base, seeds, forget, split_seed), *_method("retrain", None, {}), *_method("original", None, {})]
        lines += methods
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("tune", "eval") or argv[1] not in UNSEEN:
        sys.exit(__doc__)
    which, bench = argv
    if which == "tune":
        text, path = tuning_config(bench), HERE / f"{bench}.tune.toml"
    else:
        text, path = evaluation_config(bench), HERE / f"{bench}.toml"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
