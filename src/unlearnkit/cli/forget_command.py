"""``unlearnkit forget``: answer one deletion request on a model of your own, with an audit record.

    unlearnkit forget --model-factory my_pkg.models:build --checkpoint model.safetensors \\
        --data train.npz [--validation val.npz] --forget-ids ids.txt --method NAME [--param key=value ...] \\
        --out model.unlearned.safetensors [--store results.sqlite] [--json] \\
        [--select oracle-free [--budget N] [--utility-tolerance X] [--training-seconds S]]

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
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, TIME_WEIGHT, check_tolerance, check_training_seconds
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
    parser.add_argument("--utility-tolerance", metavar="X",
                        help=f"with --select: share of the original's validation accuracy (AUC for recommenders) a setting "
                             f"may lose and stay selectable, in [0, 1), beyond two standard errors (default {DEFAULT_TOLERANCE})")
    parser.add_argument("--training-seconds", metavar="S",
                        help=f"with --select: how long training the original took, if known; each setting's score then "
                             f"includes {TIME_WEIGHT:g} x its seconds over S (default: no time term)")
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


def parse_number(text: str) -> float | str:
    """``text`` as a float, else the text itself (which the check that follows refuses, naming the flag)."""
    try:
        return float(text)
    except ValueError:
        return text


def parse_selection(args: argparse.Namespace) -> tuple[str | None, int | None, float | None, float | None]:
    """``--select``, ``--budget``, ``--utility-tolerance``, ``--training-seconds`` as :func:`unlearnkit.unlearn`'s
    ``select``, ``budget``, ``tolerance``, ``training_seconds`` (refused here naming the flag, and checked again there)."""
    if args.select is not None and args.select != "oracle-free":
        raise InvalidParameterError(f"--select: the only selection is 'oracle-free'; got {args.select!r}")
    options = {"--budget": args.budget, "--utility-tolerance": args.utility_tolerance, "--training-seconds": args.training_seconds}
    if args.select is None:
        for flag, text in options.items():
            if text is not None:
                raise InvalidParameterError(f"{flag} is only read with --select oracle-free; got {flag} {text}")
        return None, None, None, None
    budget = None
    if args.budget is not None:
        try:
            budget = int(args.budget)
        except ValueError:
            raise InvalidParameterError(f"--budget: an integer of at least 1; got {args.budget!r}") from None
        if budget < 1:
            raise InvalidParameterError(f"--budget: an integer of at least 1; got {args.budget!r}")
    tolerance = None if args.utility_tolerance is None else check_tolerance(parse_number(args.utility_tolerance), "--utility-tolerance")
    seconds = None if args.training_seconds is None else check_training_seconds(parse_number(args.training_seconds), "--training-seconds")
    return "oracle_free", budget, tolerance, seconds


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
    select, budget, tolerance, training_seconds = parse_selection(args)
    files = RequestFiles(
        model_factory=args.model_factory, checkpoint=args.checkpoint, data=args.data, forget_ids=args.forget_ids,
        out=args.out, store=args.store, validation=args.validation,
    )
    record, _ = forget_from_files(
        files, method=args.method, params=params, recipe=recipe, forget_unit=args.forget_unit, seed=args.seed,
        select=select, budget=budget, tolerance=tolerance, training_seconds=training_seconds,
    )
    console = Console(highlight=False, soft_wrap=True)
    if args.json:
        console.print_json(json.dumps(record.as_json()))
    else:
        console.print(summary(record), markup=False)
    return 0
