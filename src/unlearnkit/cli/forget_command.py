"""``unlearnkit forget``: answer one deletion request on a model of your own, with an audit record.

    unlearnkit forget --model-factory my_pkg.models:build --checkpoint model.safetensors \\
        --data train.npz [--validation val.npz] --forget-ids ids.txt --method NAME [--param key=value ...] \\
        --out model.unlearned.safetensors [--store results.sqlite] [--json] [--select oracle-free [--budget N]]

Every input is checked before any work; a bad one exits with code 2 and
writes nothing. See :mod:`unlearnkit.requests.service` for the order of
work that keeps the checkpoint and the audit record consistent.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from typing import Any

from rich.console import Console

from unlearnkit.errors import InvalidParameterError
from unlearnkit.requests.service import RequestFiles, forget_from_files
from unlearnkit.store.audit import AuditRecord


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_store: str) -> None:
    parser = commands.add_parser(
        "forget", help="remove training examples from a model of your own and record the request",
        description="Remove training examples from a model of your own; write the new checkpoint and an audit record.",
    )
    parser.add_argument("--model-factory", required=True, metavar="MODULE:CALLABLE",
                        help="returns the untrained nn.Module (imported from the current folder or installed packages)")
    parser.add_argument("--checkpoint", required=True, help="the trained state dict: .safetensors, or a torch file (weights only)")
    parser.add_argument("--data", required=True, help=".npz with x and y (classifier) or user, item, label (recommender)")
    parser.add_argument("--validation", help="held-out data in the same form (the membership check compares with it)")
    parser.add_argument("--forget-ids", required=True, help="text file, one training index per line (or .npy)")
    parser.add_argument("--forget-unit", choices=("rows", "users"), default="rows",
                        help="what the ids name: training rows (default) or user ids (recommenders)")
    parser.add_argument("--method", required=True, help="a registered method (unlearnkit list methods)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method hyper-parameter; VALUE is read as a TOML value (0.01, true, [1, 2]) or else a string")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="the original's training recipe (TrainSpec / RecTrainSpec field), for methods that read it")
    parser.add_argument("--seed", type=int, default=0, help="seeds the method's randomness (default 0)")
    parser.add_argument("--select", metavar="oracle-free",
                        help="choose the method's hyper-parameters without a retrained model (needs --validation); "
                             "the selection is kept in the audit record")
    parser.add_argument("--budget", metavar="N", help="settings --select tries, the given ones included (default 6)")
    parser.add_argument("--out", required=True, help="new checkpoint path (.safetensors, .pt, .pth); must not exist")
    parser.add_argument("--store", default=default_store, help=f"SQLite store for the audit record (default {default_store})")
    parser.add_argument("--json", action="store_true", help="print the audit record as JSON")
    parser.set_defaults(handler=run)


def parse_value(text: str) -> Any:
    """A TOML value (numbers, booleans, lists, quoted strings), else the text itself."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignments(items: list[str], flag: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidParameterError(f"{flag} {item!r}: expected KEY=VALUE")
        if key in values:
            raise InvalidParameterError(f"{flag} {key!r} is given twice")
        values[key] = parse_value(text.strip())
    return values


def parse_selection(select: str | None, budget: str | None) -> tuple[str | None, int | None]:
    """``--select``/``--budget`` as :func:`unlearnkit.unlearn`'s ``select``/``budget`` (their values are checked there)."""
    if select is not None and select != "oracle-free":
        raise InvalidParameterError(f"--select: the only selection is 'oracle-free'; got {select!r}")
    if budget is None:
        return None if select is None else "oracle_free", None
    if select is None:
        raise InvalidParameterError(f"--budget is only read with --select oracle-free; got --budget {budget}")
    try:
        count = int(budget)
    except ValueError:
        raise InvalidParameterError(f"--budget: an integer of at least 1; got {budget!r}") from None
    if count < 1:
        raise InvalidParameterError(f"--budget: an integer of at least 1; got {budget!r}")
    return "oracle_free", count


def summary(record: AuditRecord) -> str:
    before, after = record.metrics["before"], record.metrics["after"]
    lines = [
        f"request {record.request_id}" + (f" (continues {record.parent_id})" if record.parent_id else ""),
        f"  {record.method} removed {record.ids_count} {'user(s)' if record.forget_unit == 'users' else 'training example(s)'} "
        f"in {record.method_seconds:.2f} s (request {record.wall_seconds:.2f} s)",
        f"  wrote {record.output_path} (sha256 {record.checkpoint_after_sha256[:16]}...)",
    ]
    if record.selection is not None:
        lines.append(
            f"  selected oracle-free from {len(record.selection['trials'])} setting(s) in {record.selection['seconds']:.2f} s "
            f"(score {record.selection['score']:.4f}): {record.params}"
        )
    for key in sorted(set(before) | set(after)):
        lines.append(f"  {key:<20} {before.get(key, float('nan')):.4f} -> {after.get(key, float('nan')):.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    params = parse_assignments(args.param, "--param")
    recipe = parse_assignments(args.recipe, "--recipe") or None
    select, budget = parse_selection(args.select, args.budget)
    files = RequestFiles(
        model_factory=args.model_factory, checkpoint=args.checkpoint, data=args.data, forget_ids=args.forget_ids,
        out=args.out, store=args.store, validation=args.validation,
    )
    record, _ = forget_from_files(
        files, method=args.method, params=params, recipe=recipe, forget_unit=args.forget_unit, seed=args.seed,
        select=select, budget=budget,
    )
    console = Console(highlight=False, soft_wrap=True)
    if args.json:
        console.print_json(json.dumps(record.as_json()))
    else:
        console.print(summary(record), markup=False)
    return 0
