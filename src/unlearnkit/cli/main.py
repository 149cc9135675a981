"""``unlearnkit`` command line: run, tune, list, report.

User errors (bad configuration, unknown names, missing data, unusable store
or output path, bad options) exit with code 2 and a message, without a
traceback unless ``--debug`` is given (before or after the sub-command).
Units of work that failed while running exit with code 1 after every other
unit finished and was stored.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console

from unlearnkit import __version__
from unlearnkit.cli import list_command, report_command, run_command, tune_command
from unlearnkit.errors import UnlearnkitError

DEFAULT_STORE = ".unlearnkit/store.sqlite"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), a did-you-mean for unknown options, exit code 2."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            options = [option for action in self._actions for option in action.option_strings]
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word, options, n=1)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="unlearnkit", description="Machine unlearning, measured against retraining.")
    parser.add_argument("--version", action="version", version=f"unlearnkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands: argparse._SubParsersAction[argparse.ArgumentParser]
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run_command.add_parser(commands, DEFAULT_STORE)
    list_command.add_parser(commands)
    report_command.add_parser(commands, DEFAULT_STORE)
    tune_command.add_parser(commands, DEFAULT_STORE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    arguments = [a for a in arguments if a != "--debug"]  # accepted anywhere on the line
    args = build_parser().parse_args(arguments)
    args.debug = debug
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return int(args.handler(args))
    except UnlearnkitError as error:
        if debug:
            raise
        # markup=False: messages quote configuration text such as "[[experiment]]", which rich would eat.
        err.print(f"error: {error}", markup=False, style="bold red")
        return 2
    except KeyboardInterrupt:
        err.print("interrupted; completed work is in the store, the unit that was running was not written", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
