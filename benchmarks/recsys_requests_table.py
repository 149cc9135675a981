"""Markdown tables from the JSON files of benchmarks/recsys_requests.py (for benchmarks/results/recsys_requests.md).

    python benchmarks/recsys_requests_table.py .unlearnkit/req_ml100k_mf.json ...
"""

from __future__ import annotations

import json
import sys
from typing import Any


def speedup(timing: dict[str, Any]) -> str:
    if "speedup_vs_one_retrain" in timing:
        return f"{timing['speedup_vs_one_retrain']:.0f}× (vs one retrain)"
    return f"{timing['speedup_vs_original_training']:.0f}× (vs the original's training; no retrain ran)"


def timings_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| method | requests | median request ms | p95 ms | set-up ms (median, apart) | solve ms | parameters moved "
        "| curvature rows | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in report["timings"].items():
        lines.append(
            f"| {name} | {t['requests']} | {t['median_request_ms']:.1f} | {t['p95_request_ms']:.1f} | {t['median_setup_ms']:.1f} "
            f"| {t['median_solve_ms']:.1f} | {t['median_parameters']:.0f} | {t['median_curvature_rows']:.0f} | {speedup(t)} |"
        )
    return lines


def quality_table(quality: dict[str, Any]) -> list[str]:
    lines = [
        f"Quality over the first {quality['users']} requests (mean ± std over requests; R = retrain with the original's seed, "
        "R' = retrain with another seed: its row is the noise floor):",
        "",
        "| model | deleted user's rows: share closed | touched items' rows: share closed | membership AUC | test AUC − R "
        "| Recall@20 − R | NDCG@20 − R |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in quality.items():
        if name == "users":
            continue
        if name == "retrain":
            lines.append(f"| R (reference) | — | — | {v['membership_auc']:.3f} | 0 | 0 | 0 |")
            continue
        label = "R' (noise floor)" if name == "retrain_other_seed" else name
        lines.append(
            f"| {label} | {v['user_share_mean']:.2f} ± {v['user_share_std']:.2f} "
            f"| {v['items_share_mean']:+.3f} ± {v['items_share_std']:.3f} "
            f"| {v['membership_auc']:.3f} | {v['test_auc_minus_retrain_mean']:+.4f} (max abs {v['test_auc_minus_retrain_max_abs']:.4f}) "
            f"| {v['recall20_minus_retrain_mean']:+.4f} | {v['ndcg20_minus_retrain_mean']:+.4f} |"
        )
    return lines


def stream_table(stream: dict[str, Any]) -> list[str]:
    lines = [
        "| method | requests | total s (set-up part) | one retrain without all, s | deleted rows: share closed (noise floor) "
        "| touched items' rows: share closed (noise floor) | test AUC / Recall@20 / NDCG@20 − R: unlearned | original | R' |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in stream.items():
        u, o, n = (s[f"{k}_utility_minus_retrain"] for k in ("unlearned", "original", "retrain_other_seed"))
        lines.append(
            f"| {name} | {s['requests']} | {s['total_seconds']:.1f} ({s['setup_seconds_in_total']:.1f}) | {s['retrain_seconds']:.1f} "
            f"| {s['deleted_share']:.2f} ({s['deleted_noise_floor_share']:.2f}) "
            f"| {s['touched_items_share']:+.3f} ({s['touched_items_noise_floor_share']:+.3f}) | "
            + " | ".join(f"{d['test_auc']:+.4f} / {d['recall20']:+.4f} / {d['ndcg20']:+.4f}" for d in (u, o, n))
            + " |"
        )
    return lines


def main() -> None:
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
        original, data = report["original"], report["data"]
        lines = [
            f"#### `{path}`",
            "",
            f"{data['users']:,} users × {data['items']:,} items, {data['rows']:,} rows ({data['train']:,} training); "
            f"original: {original['epochs']} epochs, {original['seconds']:.1f} s, test AUC {original['test_auc']:.4f}"
            + (f"; mean retraining time {report['retrain_seconds_mean']:.1f} s" if "retrain_seconds_mean" in report else ""),
            "",
            *timings_table(report),
        ]
        if report.get("quality"):
            lines += ["", *quality_table(report["quality"])]
        if report.get("stream"):
            lines += ["", "Stream (the requests applied one after another to one model):", "", *stream_table(report["stream"])]
        print("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
