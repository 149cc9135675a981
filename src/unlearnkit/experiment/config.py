"""Experiment configuration files (TOML), validated up front.

Each ``[[experiment]]`` table names its kind (``kind = "classification"`` by
default); the kind's schema checks structure (pydantic) and the kind checks
meaning (registry names, hyper-parameter constraints, which methods and
metrics suit it). Every problem is collected with its key path and reported
at once, before anything is trained or written.
"""

from __future__ import annotations

import tomllib
from typing import Any

from pydantic import ValidationError

from unlearnkit.errors import ConfigError
from unlearnkit.kinds.registry import KINDS
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.registry import did_you_mean


def key_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate_experiment(entry: Any, where: str) -> tuple[ExperimentFields | None, list[str]]:
    """One ``[[experiment]]`` table: the validated experiment (None if invalid) and every problem found."""
    if not isinstance(entry, dict):
        return None, [f"{where}: expected a table; got {type(entry).__name__}"]
    kind_name = entry.get("kind", "classification")
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        close = did_you_mean(kind_name, KINDS) if isinstance(kind_name, str) else ""
        return None, [f"{where}.kind: unknown experiment kind {kind_name!r}{close}; registered kinds: {', '.join(KINDS)}"]
    kind = KINDS[kind_name]
    try:
        experiment = kind.config_model.model_validate(entry)
    except ValidationError as error:
        return None, [_schema_problem(where, e, list(kind.config_model.model_fields)) for e in error.errors()]
    return experiment, kind.problems(experiment, where)


def _schema_problem(where: str, error: Any, fields: list[str]) -> str:
    """One pydantic error as a message naming the key, the problem and the value received (and a close key name)."""
    path = key_path(where, error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        known = fields if len(error["loc"]) == 1 else []
        allowed = f"; allowed keys: {', '.join(known)}" if known else ""
        return f"{path}: unknown key{did_you_mean(key, known)}{allowed}"
    received = repr(error["input"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}; got {received}" if len(received) <= 80 else f"{path}: {message}"


def parse_experiments(raw: dict[str, Any], source: str) -> list[ExperimentFields]:
    """Validate a parsed configuration; raise :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    for key in sorted(set(raw) - {"experiment"}):
        problems.append(f"unknown top-level key {key!r}{did_you_mean(key, ['experiment'])}; expected [[experiment]] tables")
    entries = raw.get("experiment")
    if not isinstance(entries, list) or not entries:
        problems.append("experiment: at least one [[experiment]] table is required")
        raise ConfigError(source, problems)
    experiments: list[ExperimentFields] = []
    for index, entry in enumerate(entries):
        experiment, found = validate_experiment(entry, f"experiment[{index}]")
        problems += found
        if experiment is not None:
            experiments.append(experiment)
    names = [e.name for e in experiments]
    problems += [f"experiment name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise ConfigError(source, problems)
    return experiments


def load_config(path: str) -> list[ExperimentFields]:
    """Read and fully validate a configuration file; raise :class:`ConfigError` listing every problem.

    Returns one validated experiment (of its kind's schema) per table, in file order.
    """
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except IsADirectoryError:
        raise ConfigError(path, ["is a folder, not a TOML file"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, [f"not valid TOML: {error}"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(path, [f"not a UTF-8 text file: {error}"]) from None
    return parse_experiments(raw, path)
