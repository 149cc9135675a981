"""``unlearnkit`` command line: run, list, report, tune; forget and audit (deletion requests on your own model).

User errors (bad configuration, unknown names, missing data, unusable store
or output path, bad options) exit with code 2 and a message, without a
traceback unless ``--debug`` is given (before or after the sub-command).
A unit of work that crashed while running (after its retries) makes the
command exit with code 1 once every other unit finished and was stored.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console

from unlearnkit.cli import audit_command, forget_command, list_command, report_command, run_command, tune_command
from unlearnkit.errors import UnlearnkitError
from unlearnkit.registry import did_you_mean
from unlearnkit.version import __version__

DEFAULT_STORE = ".unlearnkit/store.sqlite"


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option of ``parser`` and of its sub-commands (an unknown option is reported by the top parser)."""
    options: list[str] = []
    for action in parser._actions:
        options += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options += _option_strings(sub)
    return sorted(set(options))


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), a did-you-mean for unknown options and commands, exit code 2."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            options = _option_strings(self)
            hints = [did_you_mean(word, options) for word in message.split(":", 1)[1].split() if word.startswith("-")]
            message += next((hint for hint in hints if hint), "")
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            message += did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
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
    forget_command.add_parser(commands, DEFAULT_STORE)
    audit_command.add_parser(commands, DEFAULT_STORE)
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
