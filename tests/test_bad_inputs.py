"""Bad input at the command line: one table of cases across config, data, ids, checkpoints, store and options.

Every case must give exit code 2, a message on one line naming the problem
and the value received (with a did-you-mean where a name is close to a known
one), no traceback, nothing on standard output, and must leave the store the
command points at byte-identical (no new files next to it either), whether
the problem is found while reading the configuration or later, while
resolving data.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from sweep_support import TINY
from unlearnkit.cli.main import main
from unlearnkit.store import SQLiteStore

# The same sweep without the metric that needs a forget *distribution*, so that any forget selector fits it.
DATA = TINY.replace('"heldout_forget_acc", ', "")
FORGET = 'forget = { name = "groups", groups = [4] }'


def variant(old: str, new: str, base: str = TINY) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def forget_with(selector: str) -> str:
    return variant(FORGET, f"forget = {selector}", DATA)


@dataclass(frozen=True)
class Case:
    """``argv`` with {config}, {store} and {folder} filled in; ``expected``: fragments of the one-line message."""

    name: str
    argv: list[str]
    expected: list[str]
    config: str | None = None  # written to {config}
    files: dict[str, str] = field(default_factory=dict)  # more files in {folder}
    prepare: Callable[[Path], None] | None = None  # changes the store at {store} before the command


def run(*extra: str) -> list[str]:
    return ["run", "{config}", "--store", "{store}", "--quiet", *extra]


def report(*extra: str) -> list[str]:
    return ["report", "--store", "{store}", *extra]


def tune(*extra: str) -> list[str]:
    return ["tune", "{config}", "--store", "{store}", *extra]


def forget(*extra: str) -> list[str]:
    """A request whose files do not exist: the options are refused before any file is read."""
    files = ["--checkpoint", "{folder}/model.safetensors", "--data", "{folder}/train.npz", "--forget-ids", "{folder}/ids.txt"]
    return ["forget", "--model-factory", "own:build", *files, "--method", "finetune", "--out", "{folder}/out.safetensors",
            "--store", "{store}", *extra]


# -- ways to damage a good store ---------------------------------------------------


def _sql(statement: str) -> Callable[[Path], None]:
    def apply(store: Path) -> None:
        with closing(sqlite3.connect(store)) as db:
            db.execute(statement)
            db.commit()

    return apply


def _replace_file(content: bytes) -> Callable[[Path], None]:
    def apply(store: Path) -> None:
        store.write_bytes(content)

    return apply


def _truncate(store: Path) -> None:
    with open(store, "r+b") as handle:
        handle.truncate(os.path.getsize(store) // 3)


def _other_application(store: Path) -> None:
    store.unlink()
    with closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.commit()


class _Payload:
    """Unpickling this would create a file: a checkpoint must never be unpickled."""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (open, ("/tmp/unlearnkit-pickle-executed", "w"))


def _checkpoint(state: bytes) -> Callable[[Path], None]:
    """Replace the seed-0 original's checkpoint and forget one run, so that the next run must load it."""

    def apply(store: Path) -> None:
        with closing(sqlite3.connect(store)) as db:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("UPDATE models SET state = ? WHERE kind = 'original'", (state,))
            db.execute("DELETE FROM runs WHERE label = 'finetune'")
            db.commit()

    return apply


def _torch_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


CASES = [
    # -- configuration: syntax, names (with did-you-mean), values out of range / NaN / of the wrong type ------------
    Case("malformed_toml", run(), ["not valid TOML", "line 1"], config="[[experiment]\nname ="),
    Case("no_experiment_table", run(), ["at least one [[experiment]] table is required"], config="# nothing\n"),
    Case("unknown_top_level_key", run(), ["'experiments'", "did you mean 'experiment'"], config="experiments = 1\n" + TINY),
    Case(
        "unknown_key",
        run(),
        ["experiment[0].seed: unknown key", "did you mean 'seeds'"],
        config=variant("seeds = [0, 1]", "seeds = [0, 1]\nseed = 3"),
    ),
    Case(
        "unknown_kind",
        run(),
        ["'recomendation'", "did you mean 'recommendation'"],
        config=variant('goal = "untraining"', 'goal = "untraining"\nkind = "recomendation"'),
    ),
    Case(
        "unknown_method",
        run(),
        ["unknown method 'finetun'", "did you mean 'finetune'"],
        config=variant('name = "finetune"', 'name = "finetun"'),
    ),
    Case(
        "unknown_dataset",
        run(),
        ["unknown dataset 'synthtic'", "did you mean 'synthetic'"],
        config=variant('name = "synthetic"', 'name = "synthtic"'),
    ),
    Case("unknown_model", run(), ["unknown model 'mpl'", "did you mean 'mlp'"], config=variant('name = "mlp"', 'name = "mpl"')),
    Case(
        "unknown_metric",
        run(),
        ["unknown metric 'retian_acc'", "did you mean 'retain_acc'"],
        config=variant('"retain_acc",', '"retian_acc",'),
    ),
    Case(
        "unknown_method_parameter",
        run(),
        ["methods[1].epoch: unknown parameter", "did you mean 'epochs'"],
        config=variant("epochs = 2", "epoch = 2"),
    ),
    Case(
        "unknown_train_parameter",
        run(),
        ["train.epochz: unknown parameter", "did you mean 'epochs'"],
        config=variant("epochs = 15", "epochz = 15"),
    ),
    Case("unknown_goal", run(), ["experiment[0].goal", "got 'untrain'"], config=variant('goal = "untraining"', 'goal = "untrain"')),
    Case("negative_learning_rate", run(), ["train.lr", "got -1.0"], config=variant("lr = 0.05", "lr = -1.0")),
    Case("nan_learning_rate", run(), ["train.lr", "got nan"], config=variant("lr = 0.05", "lr = nan")),
    Case("infinite_learning_rate", run(), ["train.lr", "got inf"], config=variant("lr = 0.05", "lr = inf")),
    Case("epochs_as_text", run(), ["train.epochs", "got 'ten'"], config=variant("epochs = 15", 'epochs = "ten"')),
    Case("epochs_as_boolean", run(), ["train.epochs", "got True"], config=variant("epochs = 15", "epochs = true")),
    Case("fractional_epochs", run(), ["train.epochs", "got 1.5"], config=variant("epochs = 15", "epochs = 1.5")),
    Case(
        "validation_fraction_above_one",
        run(),
        ["split.validation_fraction", "got 2.0"],
        config=variant("validation_fraction = 0.1", "validation_fraction = 2.0"),
    ),
    Case("negative_seed", run(), ["experiment[0].seeds", "got [-1]"], config=variant("seeds = [0, 1]", "seeds = [-1]")),
    Case("repeated_seed", run(), ["experiment[0].seeds", "got [0, 0]"], config=variant("seeds = [0, 1]", "seeds = [0, 0]")),
    Case("no_seeds", run(), ["experiment[0].seeds", "got []"], config=variant("seeds = [0, 1]", "seeds = []")),
    Case("no_methods", run(), ["experiment[0].methods: Field required"], config=TINY.split("[[experiment.methods]]")[0]),
    Case("config_is_a_folder", ["run", "{folder}", "--store", "{store}"], ["is a folder, not a TOML file"]),
    Case("config_missing", ["run", "{folder}/missing.toml", "--store", "{store}"], ["missing.toml: file not found"]),
    Case(
        "config_not_text", ["run", "{folder}/binary.toml", "--store", "{store}"], ["not a UTF-8 text file"], files={"binary.toml": "\udcff"}
    ),
    # -- data and forget ids: found while resolving data, after the configuration was read ------------------------
    Case("empty_forget_set", run(), ["forget.count", "got 0"], config=forget_with('{ name = "random", count = 0 }')),
    Case(
        "forget_group_missing",
        run(),
        ["experiment[0] ('tiny')", "identities [99] have no training samples"],
        config=variant("groups = [4]", "groups = [99]"),
    ),
    Case(
        "forget_more_than_the_training_set",
        run(),
        ["experiment[0] ('tiny')", "count=10000"],
        config=forget_with('{ name = "random", count = 10000 }'),
    ),
    Case(
        "forget_ids_out_of_range",
        run(),
        ["ids.txt", "100000"],
        config=forget_with('{ name = "index_file", path = "{folder}/ids.txt" }'),
        files={"ids.txt": "1\n2\n100000\n"},
    ),
    Case(
        "forget_ids_negative",
        run(),
        ["ids.txt", "-3"],
        config=forget_with('{ name = "index_file", path = "{folder}/ids.txt" }'),
        files={"ids.txt": "-3\n"},
    ),
    Case(
        "forget_ids_duplicated",
        run(),
        ["ids.txt", "more than once"],
        config=forget_with('{ name = "index_file", path = "{folder}/ids.txt" }'),
        files={"ids.txt": "1\n1\n2\n"},
    ),
    Case(
        "forget_ids_not_integers",
        run(),
        ["ids.txt", "integer"],
        config=forget_with('{ name = "index_file", path = "{folder}/ids.txt" }'),
        files={"ids.txt": "1.5\n2\n"},
    ),
    Case(
        "forget_ids_file_empty",
        run(),
        ["ids.txt", "no ids given"],
        config=forget_with('{ name = "index_file", path = "{folder}/ids.txt" }'),
        files={"ids.txt": ""},
    ),
    Case(
        "forget_ids_file_missing",
        run(),
        ["missing.txt", "does not exist"],
        config=forget_with('{ name = "index_file", path = "{folder}/missing.txt" }'),
    ),
    # -- checkpoints in the store: refused, never executed ---------------------------------------------------------
    Case(
        "pickled_checkpoint", run(), ["checkpoint of model", "cannot be loaded"], config=TINY, prepare=_checkpoint(pickle.dumps(_Payload()))
    ),
    Case("corrupt_checkpoint", run(), ["checkpoint of model", "cannot be loaded"], config=TINY, prepare=_checkpoint(b"PK\x03\x04garbage")),
    Case(
        "checkpoint_of_another_shape",
        run(),
        ["stored original model", "does not fit", "Missing key(s)"],
        config=TINY,
        prepare=_checkpoint(_torch_bytes({"net.0.weight": torch.zeros(2, 2)})),
    ),
    # -- the store file itself -------------------------------------------------------------------------------------
    Case("store_empty_file", report(), ["is an empty file, not an unlearnkit store"], prepare=_replace_file(b"")),
    Case("store_random_bytes", report(), ["is not an SQLite database"], prepare=_replace_file(os.urandom(8192))),
    Case("store_random_bytes_for_run", run(), ["is not an SQLite database"], config=TINY, prepare=_replace_file(os.urandom(8192))),
    Case("store_truncated", report(), ["cannot be used", "malformed"], prepare=_truncate),
    Case("store_from_a_newer_schema", report(), ["written by a newer unlearnkit (schema 99"], prepare=_sql("PRAGMA user_version = 99")),
    Case(
        "store_from_a_newer_schema_for_run",
        run(),
        ["written by a newer unlearnkit (schema 99"],
        config=TINY,
        prepare=_sql("PRAGMA user_version = 99"),
    ),
    Case("store_missing_a_table", report(), ["missing the table(s) tuning_trials"], prepare=_sql("DROP TABLE tuning_trials")),
    Case("store_of_another_application", report(), ["not an unlearnkit store", "notes"], prepare=_other_application),
    Case("store_path_is_a_folder", ["run", "{config}", "--store", "{folder}"], ["is a folder, not a store file"], config=TINY),
    Case(
        "store_cannot_be_created",
        ["run", "{config}", "--store", "{store}/inner.sqlite"],
        ["cannot be created", "is not a folder"],
        config=TINY,
    ),
    Case("report_without_a_store", ["report", "--store", "{folder}/none.sqlite"], ["no store at", "none.sqlite"]),
    # -- command-line options ----------------------------------------------------------------------------------------
    Case("zero_workers", run("--workers", "0"), ["--workers", "must be at least 1; got 0"], config=TINY),
    Case("negative_workers", run("--workers", "-2"), ["--workers", "got -2"], config=TINY),
    Case("workers_not_a_number", run("--workers", "two"), ["--workers", "got 'two'"], config=TINY),
    Case("negative_retries", run("--retries", "-1"), ["--retries", "got -1"], config=TINY),
    Case("workers_and_address", run("--workers", "2", "--address", "auto"), ["either --workers", "got both (2, 'auto')"], config=TINY),
    Case("unknown_flag", run("--wrokers", "2"), ["unrecognized arguments: --wrokers", "did you mean '--workers'"], config=TINY),
    Case("unknown_command", ["rnu", "{config}"], ["invalid choice: 'rnu'", "did you mean 'run'"], config=TINY),
    Case("report_output_in_a_missing_folder", report("--output", "{folder}/missing/report.md"), ["does not exist"]),
    Case("report_output_is_a_folder", report("--output", "{folder}"), ["is a folder"]),
    Case("html_report_without_output", report("--format", "html"), ["--format html writes a file"]),
    Case(
        "tune_output_in_a_missing_folder",
        ["tune", "{config}", "--store", "{store}", "--output", "{folder}/missing/recipes.toml"],
        ["does not exist"],
        config=TINY,
    ),
    Case("tune_budget_zero", ["tune", "{config}", "--store", "{store}", "--budget", "0"], ["--budget", "got 0"], config=TINY),
    Case("tune_utility_tolerance_of_one", tune("--oracle-free", "--utility-tolerance", "1"), ["[0, 1)", "got 1.0"], config=TINY),
    Case("tune_utility_tolerance_nan", tune("--oracle-free", "--utility-tolerance", "nan"), ["[0, 1)", "got nan"], config=TINY),
    Case("tune_utility_tolerance_alone", tune("--utility-tolerance", "0.1"), ["applies only with --oracle-free"], config=TINY),
    Case("forget_budget_without_select", forget("--budget", "3"), ["--budget is only read with --select oracle-free", "got --budget 3"]),
    Case(
        "forget_utility_tolerance_without_select",
        forget("--utility-tolerance", "0.1"),
        ["--utility-tolerance is only read with --select oracle-free", "got --utility-tolerance 0.1"],
    ),
    Case(
        "forget_utility_tolerance_negative",
        forget("--select", "oracle-free", "--utility-tolerance", "-0.1"),
        ["--utility-tolerance must be in [0, 1)", "got -0.1"],
    ),
    Case(
        "forget_training_seconds_without_select",
        forget("--training-seconds", "60"),
        ["--training-seconds is only read with --select oracle-free", "got --training-seconds 60"],
    ),
    Case(
        "forget_training_seconds_negative",
        forget("--select", "oracle-free", "--training-seconds", "-60"),
        ["--training-seconds must be a finite number of seconds above 0", "got -60.0"],
    ),
    Case(
        "forget_training_seconds_nan",
        forget("--select", "oracle-free", "--training-seconds", "nan"),
        ["--training-seconds must be a finite number of seconds above 0", "got nan"],
    ),
    Case(
        "tune_on_an_evaluation_seed",
        ["tune", "{config}", "--store", "{store}", "--tuning-seed", "1"],
        ["--tuning-seed 1", "evaluation seed"],
        config=TINY,
    ),
]


def test_the_table_is_large_and_names_are_distinct() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    (folder / "tiny.toml").write_text(TINY)
    store = folder / "store.sqlite"
    assert main(["run", str(folder / "tiny.toml"), "--store", str(store), "--quiet"]) == 0
    SQLiteStore(str(store))  # a clean, closed store: no -wal file left
    return store


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_on_one_line_and_changes_nothing(case: Case, good_store: Path, tmp_path: Path, capsys) -> None:
    store_folder = tmp_path / "stores"
    store_folder.mkdir()
    store = store_folder / "store.sqlite"
    shutil.copy(good_store, store)
    if case.prepare is not None:
        case.prepare(store)
    folder = tmp_path / "inputs"
    folder.mkdir()
    fill = {"config": str(folder / "config.toml"), "store": str(store), "folder": str(folder)}
    for name, text in case.files.items():
        (folder / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    if case.config is not None:
        (folder / "config.toml").write_text(case.config.replace("{folder}", str(folder)))
    before, listing = digest(store), sorted(os.listdir(store_folder))
    marker = Path("/tmp/unlearnkit-pickle-executed")
    marker.unlink(missing_ok=True)

    try:
        code = main([arg.format(**fill) for arg in case.argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    out, err = capsys.readouterr()

    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for fragment in case.expected:
        assert fragment in lines[0], (fragment, lines[0])
    assert digest(store) == before
    assert sorted(os.listdir(store_folder)) == listing
    assert not marker.exists()
