"""``unlearnkit audit list|show|verify``: read the audit trail of deletion requests.

``verify ID`` recomputes the SHA-256 of the request's input and output
checkpoints: exit 0 when both match the record, 1 (with a message per file)
when a file is missing or changed.
"""

from __future__ import annotations

import argparse
import json
import os

from rich.console import Console
from rich.table import Table

from unlearnkit.data.ids import file_digest
from unlearnkit.store.audit import AuditRecord, audit_record, audit_records


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_store: str) -> None:
    parser = commands.add_parser("audit", help="list, show and verify recorded deletion requests")
    actions = parser.add_subparsers(dest="audit_action", required=True)
    listing = actions.add_parser("list", help="every recorded request, oldest first")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = actions.add_parser("show", help="one request in full")
    show.add_argument("request_id", metavar="ID", help="request id (or a unique prefix of 6+ characters)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    verify = actions.add_parser("verify", help="check that both checkpoints still match their recorded SHA-256")
    verify.add_argument("request_id", metavar="ID", help="request id (or a unique prefix of 6+ characters)")
    for sub in (listing, show, verify):
        sub.add_argument("--store", default=default_store, help=f"SQLite store (default {default_store})")
    listing.set_defaults(handler=run_list)
    show.set_defaults(handler=run_show)
    verify.set_defaults(handler=run_verify)


def _metric(record: AuditRecord, key: str) -> str:
    before, after = record.metrics["before"].get(key), record.metrics["after"].get(key)
    return "—" if before is None or after is None else f"{before:.3f} → {after:.3f}"


def run_list(args: argparse.Namespace) -> int:
    records = audit_records(args.store)
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=True, width=200)  # a pipe or file: do not squeeze the table
    if args.json:
        console.print_json(json.dumps([r.as_json() for r in records]))
        return 0
    table = Table("request", "parent", "finished (UTC)", "method", "forgot", "forget acc", "MIA AUC", "output")
    for r in records:
        table.add_row(r.request_id[:12], (r.parent_id or "")[:12], r.finished_at[:19], r.method,
                      f"{r.ids_count} {r.forget_unit}", _metric(r, "forget_accuracy"), _metric(r, "mia_auc"), r.output_path)
    console.print(table)
    console.print(f"{len(records)} request(s) in {args.store}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    record = audit_record(args.store, args.request_id)
    console = Console(highlight=False, soft_wrap=True)
    if args.json:
        console.print_json(json.dumps(record.as_json()))
        return 0
    for key, value in record.as_json().items():
        if key != "metrics":
            console.print(f"{key:<26} {json.dumps(value) if isinstance(value, (dict, list)) else value}", markup=False)
    for phase in ("before", "after"):
        values = ", ".join(f"{k}={v:.4f}" for k, v in sorted(record.metrics[phase].items()))
        console.print(f"{'metrics ' + phase:<26} {values}", markup=False)
    return 0


def file_problem(path: str, expected: str, role: str) -> str | None:
    if not os.path.isfile(path):
        return f"{role} {path} is missing"
    if file_digest(path) != expected:
        return f"{role} {path} has changed (sha256 no longer matches the record)"
    return None


def run_verify(args: argparse.Namespace) -> int:
    record = audit_record(args.store, args.request_id)
    problems = [
        problem
        for problem in (
            file_problem(record.checkpoint_path, record.checkpoint_before_sha256, "input checkpoint"),
            file_problem(record.output_path, record.checkpoint_after_sha256, "output checkpoint"),
        )
        if problem is not None
    ]
    console = Console(highlight=False, soft_wrap=True)
    for problem in problems:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"request {record.request_id}: {problem}", markup=False)
    if problems:
        return 1
    console.print(f"request {record.request_id}: both checkpoints match their recorded SHA-256", markup=False)
    return 0
