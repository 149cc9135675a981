"""``unlearnkit`` command line: run, list, report, tune; forget and audit (deletion requests on your own model).

User errors (bad configuration, unknown names, missing data) exit with code 2
and a message, without a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from unlearnkit.cli import audit_command, forget_command, list_command, report_command, run_command, tune_command
from unlearnkit.errors import UnlearnkitError
from unlearnkit.version import __version__

DEFAULT_STORE = ".unlearnkit/store.sqlite"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unlearnkit", description="Machine unlearning, measured against retraining.")
    parser.add_argument("--version", action="version", version=f"unlearnkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True)
    run_command.add_parser(commands, DEFAULT_STORE)
    list_command.add_parser(commands)
    report_command.add_parser(commands, DEFAULT_STORE)
    tune_command.add_parser(commands, DEFAULT_STORE)
    forget_command.add_parser(commands, DEFAULT_STORE)
    audit_command.add_parser(commands, DEFAULT_STORE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return int(args.handler(args))
    except UnlearnkitError as error:
        if args.debug:
            raise
        err.print(f"[bold red]error:[/] {error}", markup=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted; completed runs are in the store, the interrupted one was not written")
        return 130


if __name__ == "__main__":
    sys.exit(main())
