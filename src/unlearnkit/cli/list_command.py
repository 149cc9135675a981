"""``unlearnkit list [kind] [--json]``: what is registered."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from unlearnkit.catalog import REGISTRIES
from unlearnkit.params import constructor_parameters


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("list", help="list registered components")
    parser.add_argument("kind", nargs="?", choices=sorted(REGISTRIES), help="one kind (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def describe(cls: type) -> dict[str, Any]:
    entry: dict[str, Any] = {"description": getattr(cls, "description", ""), "parameters": {}}
    for name in constructor_parameters(cls):
        constraint = getattr(cls, "parameter_constraints", {}).get(name)
        entry["parameters"][name] = constraint.describe() if constraint is not None else "any"
    attributes = (
        "direction", "notion", "needs_reference", "task_kinds", "goals", "defines_distribution", "empty_forget", "modalities", "appends"
    )
    for attribute in attributes:
        # Properties (a population metric's goals depend on its split) have no class-level value.
        if hasattr(cls, attribute) and not isinstance(getattr(cls, attribute), property):
            value = getattr(cls, attribute)
            entry[attribute] = sorted(value) if isinstance(value, frozenset) else value
    return entry


def run(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else sorted(REGISTRIES)
    listing = {kind: {name: describe(REGISTRIES[kind][name]) for name in REGISTRIES[kind]} for kind in kinds}
    console = Console(highlight=False)
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for kind in kinds:
        table = Table(title=kind, title_justify="left", show_lines=False)
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("parameters")
        kinds_column = any("task_kinds" in entry for entry in listing[kind].values())
        if kinds_column:
            table.add_column("experiments")
        for name, entry in listing[kind].items():
            row = [name, entry["description"], ", ".join(entry["parameters"])]
            if kinds_column:
                row.append(", ".join(entry.get("task_kinds", [])))
            table.add_row(*row)
        console.print(table)
    return 0
