"""The "Deletion requests" section: chains of audited requests, their verification metrics and their drift.

A chain is a request made on a checkpoint no recorded request produced (its
root) and every request that continued from it, each from its parent's
output (``parent_id``). Rows are in chain order: a request follows its
parent, siblings oldest first. Everything comes from the store: the audit
rows ``unlearnkit forget`` wrote, and the ``drift/NAME`` and
``noise_floor/NAME`` arrays attached to a request afterwards (a benchmark
comparing its output with retraining without everything deleted so far).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnkit.errors import StoreError
from unlearnkit.store import StoreReader
from unlearnkit.store.audit import DRIFT, NOISE_FLOOR, AuditRecord

PHASES = ("before", "after")

INTRODUCTION = (
    "Requests answered by `unlearnkit forget`, one table per chain: a request made on a checkpoint no recorded request "
    "produced, then each request that continued from its parent's output. # is the number of requests so far along the "
    "chain; metrics are the verification recorded with each request, before → after it, on that request's own data."
)
DRIFT_SENTENCE = (
    "drift: NAME is a distance between the request's output model and a model retrained without everything deleted so far "
    "(attached to the request later, e.g. by benchmarks/sequential_requests.py); noise floor: NAME is the same measure "
    "between two such retrains with different seeds. — where nothing was measured."
)


@dataclass(frozen=True)
class RequestStep:
    record: AuditRecord
    position: int  # requests so far along the chain, this one included (the root is 1)
    deleted_so_far: int  # ids deleted along the chain up to this request (in its forget unit)
    drift: dict[str, float]  # NAME of drift/NAME -> value (the mean of the array when it holds several values)
    noise_floor: dict[str, float]


@dataclass(frozen=True)
class RequestChain:
    root: str  # the first request's id
    steps: list[RequestStep]

    @property
    def drift_names(self) -> list[str]:
        return sorted({name for step in self.steps for name in step.drift})

    @property
    def noise_names(self) -> list[str]:
        return sorted({name for step in self.steps for name in step.noise_floor})

    @property
    def metric_names(self) -> list[str]:
        return sorted({name for step in self.steps for phase in PHASES for name in step.record.metrics.get(phase, {})})

    @property
    def linear(self) -> bool:
        """Each request continues from the one before it (no request has two children)."""
        return all(step.position == index for index, step in enumerate(self.steps, start=1))


def _measured(request_id: str, name: str, array: np.ndarray) -> float:
    if array.size == 0:
        raise StoreError(f"deletion request {request_id}: the array {name!r} is empty; a drift array holds at least one value")
    return float(np.mean(array, dtype=np.float64))


def _named(request_id: str, arrays: dict[str, np.ndarray], prefix: str) -> dict[str, float]:
    return {name[len(prefix):]: _measured(request_id, name, array) for name, array in arrays.items() if name.startswith(prefix)}


def request_chains(store: StoreReader) -> list[RequestChain]:
    """Every chain of recorded requests, oldest root first (none for a store without audit rows)."""
    records = store.audit_requests()
    known = {r.request_id for r in records}
    children: dict[str | None, list[AuditRecord]] = {}
    for record in records:  # oldest first, so siblings stay in that order
        parent = record.parent_id if record.parent_id in known else None
        children.setdefault(parent, []).append(record)
    chains = []
    for root in children.get(None, []):
        steps: list[RequestStep] = []
        pending: list[tuple[AuditRecord, int, int]] = [(root, 1, root.ids_count)]
        while pending:
            record, position, deleted = pending.pop()
            arrays = store.arrays(record.request_id)
            steps.append(RequestStep(record, position, deleted, _named(record.request_id, arrays, DRIFT),
                                     _named(record.request_id, arrays, NOISE_FLOOR)))
            following = children.get(record.request_id, [])
            pending += [(child, position + 1, deleted + child.ids_count) for child in reversed(following)]
        chains.append(RequestChain(root.request_id, steps))
    return chains


def _value(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4g}"


def metric_cell(record: AuditRecord, metric: str) -> str:
    before, after = record.metrics.get("before", {}).get(metric), record.metrics.get("after", {}).get(metric)
    if before is None or after is None:
        return "—"
    return f"{before:.3f} → {after:.3f}"


def chain_title(chain: RequestChain) -> str:
    methods = ", ".join(dict.fromkeys(step.record.method for step in chain.steps))
    shape = "" if chain.linear else ", branching"
    return f"Chain {chain.root[:12]} ({len(chain.steps)} request(s){shape}; {methods})"


def chain_table(chain: RequestChain) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one chain's table (shared by Markdown and HTML)."""
    metrics, drift, noise = chain.metric_names, chain.drift_names, chain.noise_names
    header = ["#", "request", "parent", "method", "deleted (so far)", *metrics, "method s", "wall s"]
    header += [f"drift: {n}" for n in drift] + [f"noise floor: {n}" for n in noise]
    rows = []
    for step in chain.steps:
        r = step.record
        row = [str(step.position), r.request_id[:12], (r.parent_id or "")[:12], r.method,
               f"{r.ids_count} {r.forget_unit} ({step.deleted_so_far})"]
        row += [metric_cell(r, m) for m in metrics] + [f"{r.method_seconds:.2f}", f"{r.wall_seconds:.2f}"]
        row += [_value(step.drift[n]) if n in step.drift else "—" for n in drift]
        row += [_value(step.noise_floor[n]) if n in step.noise_floor else "—" for n in noise]
        rows.append(row)
    return header, rows


def requests_markdown(chains: Sequence[RequestChain]) -> str:
    blocks = ["## Deletion requests", INTRODUCTION]
    if any(chain.drift_names or chain.noise_names for chain in chains):
        blocks.append(DRIFT_SENTENCE)
    for chain in chains:
        header, rows = chain_table(chain)
        lines = [f"### {chain_title(chain)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _finite(x: float) -> float | str:
    """JSON has no NaN or infinity: such values are written as strings."""
    return x if math.isfinite(x) else str(x)


def requests_records(chains: Sequence[RequestChain]) -> list[dict[str, Any]]:
    """One JSON-ready record per chain: its requests in chain order with their metrics, drift and noise floor."""
    return [
        {
            "section": "deletion requests",
            "chain": chain.root,
            "requests": [
                {
                    "position": step.position,
                    "request_id": step.record.request_id,
                    "parent_id": step.record.parent_id,
                    "method": step.record.method,
                    "params": step.record.params,
                    "forget_unit": step.record.forget_unit,
                    "ids_count": step.record.ids_count,
                    "deleted_so_far": step.deleted_so_far,
                    "metrics": {phase: {k: _finite(v) for k, v in values.items()} for phase, values in step.record.metrics.items()},
                    "method_seconds": step.record.method_seconds,
                    "wall_seconds": step.record.wall_seconds,
                    "finished_at": step.record.finished_at,
                    "drift": {name: _finite(value) for name, value in step.drift.items()},
                    "noise_floor": {name: _finite(value) for name, value in step.noise_floor.items()},
                }
                for step in chain.steps
            ],
        }
        for chain in chains
    ]
