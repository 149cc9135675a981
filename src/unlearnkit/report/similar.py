"""Similar samples: the influence left on each forget target, by how many similar samples it had, against both oracles.

Read from the store only. An experiment has similar samples when its runs
stored ``similar/count`` (each forget target's number of copies or
neighbours). Two oracles:

* A(D \\ S): the ``retrain`` row (retraining without the targets; their
  copies stay). Under "untraining" it is also the reference.
* A(D \\ N(S)): retraining without the targets and every recorded copy or
  neighbour: the reference of an "unlearning" experiment, or, under
  "untraining", a ``retrain`` row whose ``forget`` expansion is the
  neighbourhood.

Per-target measures: ``loss`` (the stored logits' cross-entropy; for a
language model the document's NLL per token), and when the metrics stored
them, ``mia`` (the loss-threshold membership score), ``exposure`` (canary
bits), ``ssim`` and ``ssim_baseline`` (the completion attack on the target
and on a never-trained image of its class). For every row and every k, the
measure's mean over the targets with k similar samples, per seed, then mean
and standard deviation over seeds; gaps to A(D \\ N(S)) are taken per seed
before averaging. "Influence left by similar samples" is the gap of
A(D \\ S) itself. A method whose entry expands its forget set (the remedy)
is set beside the same method without it: the gap it closes and the utility
it costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unlearnkit.metrics import functional as fn
from unlearnkit.store import Arrays, Outputs, RunRecord, StoreReader

COUNT = "similar/count"
# measure -> (stored array, description); "loss" comes from the logits.
MEASURES: dict[str, tuple[str | None, str]] = {
    "loss": (None, "the target's loss (cross-entropy; language models: NLL per token, nats)"),
    "mia": ("target_mia/score", "the target's loss-threshold membership score (share of unseen examples with a higher loss)"),
    "exposure": ("exposure/bits", "the canary's exposure in bits"),
    "ssim": ("reconstruction_ssim/ssim", "SSIM of the completion attack's reconstruction of the target (hidden pixels)"),
    "ssim_baseline": ("reconstruction_ssim/baseline_ssim", "the same attack on a never-trained image of the target's class"),
}
ORACLE_S = "A(D∖S): retrain"
ORACLE_N = "A(D∖N(S)): reference"
INFLUENCE_LEFT = "influence left by similar samples (A(D∖S) − A(D∖N(S)))"
UTILITY = ("test_acc", "retain_acc", "test_loss")


@dataclass(frozen=True)
class Summary:
    """Mean and standard deviation over seeds (NaN std with one seed) of a value per seed."""

    mean: float
    std: float
    seeds: int

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        array = np.asarray(values, dtype=float)
        return cls(float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else math.nan, int(array.size))

    def text(self) -> str:
        return f"{self.mean:.3g}" if math.isnan(self.std) else f"{self.mean:.3g} ± {self.std:.2g}"


@dataclass(frozen=True)
class Curve:
    label: str
    role: str  # "original", "oracle_s", "oracle_n", "method", "remedy", "influence"
    values: dict[int, Summary]  # k -> over seeds


@dataclass(frozen=True)
class Measure:
    name: str
    description: str
    ks: list[int]
    curves: list[Curve]  # the figure itself per row and k
    gaps: list[Curve]  # row − A(D∖N(S)), per seed, then over seeds; "influence left" first


@dataclass(frozen=True)
class Remedy:
    label: str
    base: str
    gap_base: dict[str, Summary]  # measure -> mean gap to A(D∖N(S)) over all targets, without the remedy
    gap_remedy: dict[str, Summary]
    utility_base: dict[str, Summary]  # metric -> value
    utility_remedy: dict[str, Summary]


@dataclass(frozen=True)
class SimilarSection:
    experiment: str
    goal: str
    seeds: list[int]
    has_oracle_n: bool
    measures: list[Measure]
    remedies: list[Remedy]
    grid: dict[str, np.ndarray] = field(default_factory=dict)  # column -> completions of the first seed's best-k targets
    grid_rows: list[str] = field(default_factory=list)
    pixel_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class _Model:
    """One model's per-target measures on one seed."""

    label: str
    role: str
    per_target: dict[str, np.ndarray]
    metrics: dict[str, float]
    arrays: Arrays


def has_similar(store: StoreReader, runs: list[RunRecord]) -> bool:
    return bool(runs) and COUNT in store.arrays(runs[0].run_key)


def _per_target(outputs: Outputs, arrays: Arrays) -> dict[str, np.ndarray]:
    logits, labels = outputs["forget"]
    found = {"loss": fn.per_example_loss(logits, labels)}
    for name, (array, _) in MEASURES.items():
        if array is not None and array in arrays:
            found[name] = np.asarray(arrays[array], dtype=float)
    return found


def _expanded(run: RunRecord) -> bool:
    return "forget_expansion" in run.config


def _role(run: RunRecord) -> str:
    if run.role == "retrain":
        return "oracle_n" if _expanded(run) else "oracle_s"
    if run.role == "original":
        return "original"
    return "remedy" if _expanded(run) else "method"


def _seed_models(store: StoreReader, runs: list[RunRecord], goal: str, references: set[str]) -> tuple[list[_Model], np.ndarray]:
    """One seed's models with their roles; the stored reference joins as A(D∖N(S)) ("unlearning") or A(D∖S) ("untraining")."""
    models = []
    for run in runs:
        arrays = store.arrays(run.run_key)
        models.append(_Model(run.label, _role(run), _per_target(store.outputs(run.run_key), arrays), run.metrics, arrays))
    key = runs[0].reference_key
    if key in references:
        arrays = store.arrays(key)
        reference = _per_target(store.reference_outputs(key), arrays)
        if goal == "unlearning":
            # The reference is A(D∖N(S)); a retrain row expanded to N(S) is then one more remedy row.
            models = [_Model(m.label, "remedy", m.per_target, m.metrics, m.arrays) if m.role == "oracle_n" else m for m in models]
            models.append(_Model(ORACLE_N, "oracle_n", reference, {}, arrays))
        elif not any(m.role == "oracle_s" for m in models):
            models.append(_Model(ORACLE_S, "oracle_s", reference, {}, arrays))
    oracles_n = [m for m in models if m.role == "oracle_n"]
    models = [m for m in models if m.role != "oracle_n"] + oracles_n[:1] + [
        _Model(m.label, "remedy", m.per_target, m.metrics, m.arrays) for m in oracles_n[1:]
    ]
    return models, np.asarray(store.arrays(runs[0].run_key)[COUNT], dtype=np.int64)


def _oracle_n(models: list[_Model]) -> _Model | None:
    return next((m for m in models if m.role == "oracle_n"), None)


def _by_k(values: np.ndarray, counts: np.ndarray, ks: list[int]) -> dict[int, float]:
    return {k: float(values[counts == k].mean()) for k in ks if (counts == k).any()}


def _summaries(per_seed: list[dict[int, float]]) -> dict[int, Summary]:
    ks = sorted({k for values in per_seed for k in values})
    return {k: Summary.of([values[k] for values in per_seed if k in values]) for k in ks}


def _order(models: list[_Model]) -> list[tuple[str, str]]:
    rank = {"original": 0, "oracle_s": 1, "oracle_n": 2, "method": 3, "remedy": 4}
    seen = dict.fromkeys((m.label, m.role) for m in sorted(models, key=lambda m: rank[m.role]))
    return list(seen)


def _base_of(remedy: RunRecord, runs: list[RunRecord]) -> RunRecord | None:
    """The same method with the same hyper-parameters, unlearning S itself."""
    name, params = remedy.config["method"][0], remedy.config["method"][2]
    return next((r for r in runs if not _expanded(r) and r.config["method"][0] == name and r.config["method"][2] == params), None)


def similar_section(store: StoreReader, experiment: str, goal: str, runs: list[RunRecord], references: set[str]) -> SimilarSection | None:
    """The section of one experiment, or None when it has no similar samples or no A(D∖N(S)) or A(D∖S) to compare with."""
    if not has_similar(store, runs):
        return None
    seeds = sorted({r.seed for r in runs})
    per_seed = {seed: _seed_models(store, [r for r in runs if r.seed == seed], goal, references) for seed in seeds}
    has_oracle_n = all(_oracle_n(models) is not None for models, _ in per_seed.values())
    all_counts = np.concatenate([counts for _, counts in per_seed.values()])
    ks = sorted({int(k) for k in all_counts})
    first_models = next(iter(per_seed.values()))[0]
    names = [n for n in MEASURES if all(n in m.per_target for models, _ in per_seed.values() for m in models)]
    measures = []
    for name in names:
        curves, gaps = [], []
        influence: list[dict[int, float]] = []
        for label, role in _order(first_models):
            values, gap_values = [], []
            for models, counts in per_seed.values():
                model = next((m for m in models if m.label == label), None)
                oracle = _oracle_n(models)
                if model is None:
                    continue
                values.append(_by_k(model.per_target[name], counts, ks))
                if oracle is not None:
                    gap_values.append(_by_k(model.per_target[name] - oracle.per_target[name], counts, ks))
            curves.append(Curve(label, role, _summaries(values)))
            if gap_values and role != "oracle_n":
                gaps.append(Curve(label, role, _summaries(gap_values)))
                if role == "oracle_s":
                    influence = gap_values
        if influence:
            gaps.insert(0, Curve(INFLUENCE_LEFT, "influence", _summaries(influence)))
        measures.append(Measure(name, MEASURES[name][1], ks, curves, gaps))
    section = SimilarSection(experiment, goal, list(per_seed), has_oracle_n, measures, _remedies(runs, per_seed, names))
    return _with_grid(section, per_seed)


def _mean_gap(model: _Model, oracle: _Model, name: str) -> float:
    return float((model.per_target[name] - oracle.per_target[name]).mean())


def _remedies(runs: list[RunRecord], per_seed: dict[int, tuple[list[_Model], np.ndarray]], names: list[str]) -> list[Remedy]:
    remedies = []
    first_seed = min(per_seed)
    for run in [r for r in runs if _expanded(r) and r.seed == first_seed]:
        base = _base_of(run, runs)
        if base is None:
            continue
        gap_b: dict[str, list[float]] = {n: [] for n in names}
        gap_r: dict[str, list[float]] = {n: [] for n in names}
        util_b: dict[str, list[float]] = {}
        util_r: dict[str, list[float]] = {}
        for models, _ in per_seed.values():
            remedy = next((m for m in models if m.label == run.label), None)
            unexpanded = next((m for m in models if m.label == base.label), None)
            oracle = _oracle_n(models)
            if remedy is None or unexpanded is None or oracle is None:
                continue
            for n in names:
                gap_b[n].append(_mean_gap(unexpanded, oracle, n))
                gap_r[n].append(_mean_gap(remedy, oracle, n))
            for metric in UTILITY:
                if metric in remedy.metrics and metric in unexpanded.metrics:
                    util_b.setdefault(metric, []).append(unexpanded.metrics[metric])
                    util_r.setdefault(metric, []).append(remedy.metrics[metric])
        if all(gap_b.values()):
            remedies.append(Remedy(run.label, base.label, *(_summary_by_name(d) for d in (gap_b, gap_r, util_b, util_r))))
    return remedies


def _with_grid(section: SimilarSection, per_seed: dict[int, tuple[list[_Model], np.ndarray]]) -> SimilarSection:
    """Completions of the first seed's targets with the most similar samples: target | original | A(D∖S) | A(D∖N(S)) | best method."""
    if not per_seed or not any(m.name == "ssim" for m in section.measures):
        return section
    models, counts = next(iter(per_seed.values()))
    arrays = {m.label: m.arrays for m in models}
    original = next((m for m in models if m.role == "original"), None)
    oracle_s = next((m for m in models if m.role == "oracle_s"), None)
    oracle_n = _oracle_n(models)
    if original is None or oracle_s is None or oracle_n is None or "reconstruction_ssim/targets" not in original.arrays:
        return section
    # A retrain row expanded to N(S) is A(D∖N(S)) itself (the same cached model, gap 0): it would always be
    # "best" and repeat the oracle's column, so a row whose completions are the oracle's is not a candidate.
    oracle_images = arrays[oracle_n.label]["reconstruction_ssim/images"]
    candidates = [
        m
        for m in models
        if m.role in ("method", "remedy") and not np.array_equal(arrays[m.label]["reconstruction_ssim/images"], oracle_images)
    ]
    best = min(candidates, key=lambda m: abs(_mean_gap(m, oracle_n, "ssim")), default=None)
    rows = np.argsort(-counts, kind="stable")[:8]
    targets = original.arrays["reconstruction_ssim/targets"][rows]
    masks = original.arrays["reconstruction_ssim/masks"][rows]
    low, high = (float(v) for v in original.arrays["reconstruction_ssim/pixel_range"])
    grid = {"target": targets, "attacker's input": np.where(masks, low, targets)}
    for title, model in (("original", original), ("A(D∖S)", oracle_s), ("A(D∖N(S))", oracle_n)):
        grid[title] = arrays[model.label]["reconstruction_ssim/images"][rows]
    if best is not None:
        grid[f"best: {best.label}"] = arrays[best.label]["reconstruction_ssim/images"][rows]
    labels = [f"k={int(counts[r])}" for r in rows]
    return SimilarSection(
        section.experiment, section.goal, section.seeds, section.has_oracle_n, section.measures, section.remedies, grid, labels, (low, high)
    )


NO_ORACLE_N = 'No A(D∖N(S)) model: declare goal = "unlearning" (or add a retrain row with forget = { name = "neighbourhood" }).'


def _curve_row(curve: Curve, ks: list[int]) -> str:
    return f"| {curve.label} | " + " | ".join(curve.values[k].text() if k in curve.values else "—" for k in ks) + " |"


def similar_markdown(section: SimilarSection) -> str:
    """Tables of the section: each measure by k (figures, then gaps to A(D∖N(S))), then the remedy."""
    lines = [f"#### {section.experiment}: similar samples (goal: {section.goal}; seeds {section.seeds})", ""]
    if not section.has_oracle_n:
        lines += [NO_ORACLE_N, ""]
    for measure in section.measures:
        header = "| row | " + " | ".join(f"k={k}" for k in measure.ks) + " |"
        rule = "|---|" + "---|" * len(measure.ks)
        lines += [f"**{measure.name}**: {measure.description}; mean ± std over seeds.", "", header, rule]
        lines += [_curve_row(c, measure.ks) for c in measure.curves]
        if measure.gaps:
            lines += ["", f"Gap to A(D∖N(S)) ({measure.name}, per seed, then mean ± std):", "", header, rule]
            lines += [_curve_row(c, measure.ks) for c in measure.gaps]
        lines.append("")
    if section.remedies:
        names = list(section.remedies[0].gap_base)
        utilities = sorted({u for r in section.remedies for u in r.utility_base})
        header = "| remedy | vs | " + " | ".join(f"gap {n}: without → with" for n in names) + " | " + " | ".join(
            f"{u}: without → with" for u in utilities
        ) + " |"
        lines += ["**Remedy** (forget S ∪ N(S)): mean gap to A(D∖N(S)) over all targets, and utility, mean ± std over seeds.", ""]
        lines += [header, "|---|---|" + "---|" * (len(names) + len(utilities))]
        for r in section.remedies:
            cells = [f"{r.gap_base[n].text()} → {r.gap_remedy[n].text()}" for n in names]
            cells += [f"{r.utility_base[u].text()} → {r.utility_remedy[u].text()}" if u in r.utility_base else "—" for u in utilities]
            lines.append(f"| {r.label} | {r.base} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def record(section: SimilarSection) -> dict[str, Any]:
    """JSON-ready form (benchmark scripts keep it next to the tables)."""

    def curves(items: list[Curve]) -> list[dict[str, Any]]:
        return [
            {"label": c.label, "role": c.role, "values": {str(k): [v.mean, v.std, v.seeds] for k, v in c.values.items()}} for c in items
        ]

    return {
        "experiment": section.experiment,
        "goal": section.goal,
        "seeds": section.seeds,
        "measures": {m.name: {"ks": m.ks, "curves": curves(m.curves), "gaps": curves(m.gaps)} for m in section.measures},
        "remedies": [
            {"label": r.label, "base": r.base, "gap_base": {k: [v.mean, v.std] for k, v in r.gap_base.items()},
             "gap_remedy": {k: [v.mean, v.std] for k, v in r.gap_remedy.items()},
             "utility_base": {k: [v.mean, v.std] for k, v in r.utility_base.items()},
             "utility_remedy": {k: [v.mean, v.std] for k, v in r.utility_remedy.items()}}
            for r in section.remedies
        ],
    }


def _summary_by_name(values: dict[str, list[float]]) -> dict[str, Summary]:
    return {name: Summary.of(series) for name, series in values.items() if series}
