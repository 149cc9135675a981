"""Forget sets and splits produced elsewhere, in configurations of every kind: image indices, interaction rows, user ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unlearnkit.errors import ConfigError, InvalidParameterError
from unlearnkit.experiment.config import parse_experiments
from unlearnkit.experiment.keys import run_key
from unlearnkit.experiment.runner import Runner
from unlearnkit.kinds.registry import KINDS
from unlearnkit.store import SQLiteStore


def toy(kind: str, **changes: Any) -> dict[str, Any]:
    return {**KINDS[kind].toy_config(), **changes}


def plan(tmp_path: Path, config: dict[str, Any]) -> Any:
    [experiment] = parse_experiments({"experiment": [config]}, "test.toml")
    return Runner(SQLiteStore(str(tmp_path / "store.sqlite"))).plan(0, experiment)


def membership(n: int, seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return {"train": order[: n // 2], "validation": order[n // 2 : 3 * n // 4], "test": order[3 * n // 4 :]}


def test_an_image_split_file_and_an_index_file_run_end_to_end(tmp_path: Path) -> None:
    n = 160  # the toy classification dataset: 4 classes x 4 groups x 10 samples
    parts = membership(n, 0)
    np.savez(tmp_path / "split.npz", **parts)
    (tmp_path / "forget.txt").write_text("\n".join(str(i) for i in parts["train"][:5]) + "\n")
    config = toy("classification", split={"name": "file", "path": str(tmp_path / "split.npz")},
                 forget={"name": "index_file", "path": str(tmp_path / "forget.txt")})
    planned = plan(tmp_path, config)
    split = planned.prepared.split
    assert len(planned.prepared.data) == n
    for part in ("train", "validation", "test"):
        assert np.array_equal(getattr(split, part), np.sort(parts[part]))
    assert np.array_equal(split.forget, np.sort(parts["train"][:5]))
    summary = Runner(SQLiteStore(str(tmp_path / "store.sqlite"))).run(parse_experiments({"experiment": [config]}, "test.toml"))
    assert len(summary.executed) == 2  # retrain and original, on the external split


def test_editing_a_file_changes_the_run_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "split.npz", **membership(160, 0))
    (tmp_path / "forget.txt").write_text("1\n")
    config = toy("classification", split={"name": "file", "path": str(tmp_path / "split.npz")},
                 forget={"name": "index_file", "path": str(tmp_path / "forget.txt")})
    train = np.load(tmp_path / "split.npz")["train"]
    (tmp_path / "forget.txt").write_text(f"{train[0]}\n")
    first = plan(tmp_path, config)
    keys = first.run_keys()
    assert first.resolved.setting()["split"]["name"] == "file" and len(first.resolved.setting()["split"]["sha256"]) == 64
    (tmp_path / "forget.txt").write_text(f"{train[1]}\n")
    assert plan(tmp_path, config).run_keys() != keys
    np.savez(tmp_path / "split.npz", **membership(160, 1))
    (tmp_path / "forget.txt").write_text(f"{np.load(tmp_path / 'split.npz')['train'][0]}\n")
    assert plan(tmp_path, config).run_keys() != keys
    # the default split's setting is unchanged by the split registry (existing stores keep their keys)
    default = plan(tmp_path, toy("classification"))
    assert "name" not in default.resolved.setting()["split"]
    assert run_key(default.resolved, *default.resolved.methods[0], 0) == default.run_keys()[0]


def test_an_interaction_split_file_keeps_the_ids_and_rows(tmp_path: Path) -> None:
    n = 600  # the toy recommendation dataset's rows
    parts = membership(n, 2)
    (tmp_path / "split.json").write_text(json.dumps({k: v.tolist() for k, v in parts.items()}))
    (tmp_path / "rows.txt").write_text("\n".join(str(i) for i in parts["train"][:7]))
    config = toy("recommendation", split={"name": "file", "path": str(tmp_path / "split.json")},
                 forget={"name": "interaction_file", "path": str(tmp_path / "rows.txt")})
    planned = plan(tmp_path, config)
    loaded = planned.resolved.dataset.load()
    data, split = planned.prepared.data, planned.prepared.split
    assert (data.n_users, data.n_items, len(data)) == (loaded.n_users, loaded.n_items, len(loaded))
    assert np.array_equal(data.user, loaded.user)  # nothing re-indexed
    assert np.array_equal(split.forget, np.sort(parts["train"][:7])) and np.array_equal(split.test, np.sort(parts["test"]))


def test_a_user_file_forgets_every_training_row_of_those_users(tmp_path: Path) -> None:
    parts = membership(600, 3)
    np.savez(tmp_path / "split.npz", **parts)
    loaded = plan(tmp_path, toy("recommendation")).resolved.dataset.load()
    users = np.unique(loaded.user[parts["train"]])[:2]
    np.save(tmp_path / "users.npy", users)
    config = toy("recommendation", split={"name": "file", "path": str(tmp_path / "split.npz")},
                 forget={"name": "user_file", "path": str(tmp_path / "users.npy")})
    split = plan(tmp_path, config).prepared.split
    expected = np.sort(parts["train"][np.isin(loaded.user[parts["train"]], users)])
    assert np.array_equal(split.forget, expected) and expected.size > 0
    # with the default (re-indexing) split the ids are those of the prepared data, as for `users`
    default = plan(tmp_path, toy("recommendation", forget={"name": "users", "users": [1]})).prepared
    (tmp_path / "one.txt").write_text("1\n")
    by_file = plan(tmp_path, toy("recommendation", forget={"name": "user_file", "path": str(tmp_path / "one.txt")})).prepared
    assert np.array_equal(default.split.forget, by_file.split.forget)


def test_unknown_split_names_and_bad_split_files_are_refused(tmp_path: Path) -> None:
    unknown = r"split.name: unknown split 'fiel' \(did you mean 'file'\?\); classification splits: file, random"
    with pytest.raises(ConfigError, match=unknown):
        parse_experiments({"experiment": [toy("classification", split={"name": "fiel"})]}, "test.toml")
    with pytest.raises(ConfigError, match=r"split.test_fraction: unknown parameter of SplitFile"):
        parse_experiments({"experiment": [toy("classification", split={"name": "file", "test_fraction": 0.2})]}, "test.toml")
    parts = membership(160, 0)
    parts["test"] = np.concatenate([parts["test"], parts["train"][:2]])
    np.savez(tmp_path / "overlap.npz", **parts)
    with pytest.raises(InvalidParameterError, match=r"overlap.npz: 2 index\(s\) are in both train and test"):
        plan(tmp_path, toy("classification", split={"name": "file", "path": str(tmp_path / "overlap.npz")}))
    np.savez(tmp_path / "short.npz", train=np.arange(10), validation=np.arange(10, 20))
    with pytest.raises(InvalidParameterError, match=r"short.npz: needs exactly the arrays .* missing \['test'\]"):
        plan(tmp_path, toy("classification", split={"name": "file", "path": str(tmp_path / "short.npz")}))
    np.savez(tmp_path / "far.npz", train=np.arange(10), validation=np.arange(10, 20), test=np.array([600]))
    with pytest.raises(InvalidParameterError, match=r"far.npz: test: 1 row\(s\) out of range \[0, 600\)"):
        plan(tmp_path, toy("recommendation", split={"name": "file", "path": str(tmp_path / "far.npz")}))
