"""The "Deletion requests" report section: chains made by ``unlearnkit forget`` on a model defined in a test, drift arrays."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_forget_cli import Request
from unlearnkit.cli.main import main
from unlearnkit.errors import StoreError
from unlearnkit.report.build import load_report
from unlearnkit.report.html import render_html
from unlearnkit.report.requests import request_chains
from unlearnkit.store import SQLiteStore, StoreReader
from unlearnkit.store.audit import audit_records

FIXTURES = Path(__file__).parent / "fixtures"


def _forget(r: Request, capsys: pytest.CaptureFixture[str], **overrides: str) -> dict:
    assert main([*r.args(**overrides), "--param", "epochs=1", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[Request, list[dict]]:
    """Four requests: a root, its child, a second child of the root (a branch), and a second root.

    Made in that order: root (ids 1, 3, 4), child (id 0, from the root's output), branch (ids 5, 6, from the root's
    output again), other root (id 2, from the original checkpoint again).
    """
    r = Request(tmp_path, monkeypatch)
    root = _forget(r, capsys)
    data = np.load("train.npz")
    keep = np.setdiff1d(np.arange(len(data["y"])), [1, 3, 4])
    np.savez("train2.npz", x=data["x"][keep], y=data["y"][keep])
    Path("ids2.txt").write_text("0\n")
    Path("ids3.txt").write_text("5\n6\n")
    Path("ids4.txt").write_text("2\n")
    child = _forget(r, capsys, checkpoint="out.safetensors", data="train2.npz", forget_ids="ids2.txt", out="out2.safetensors")
    branch = _forget(r, capsys, checkpoint="out.safetensors", data="train2.npz", forget_ids="ids3.txt", out="out3.safetensors")
    other = _forget(r, capsys, forget_ids="ids4.txt", out="out4.safetensors")
    assert child["parent_id"] == branch["parent_id"] == root["request_id"] and other["parent_id"] is None
    return r, [root, child, branch, other]


def _table_rows(markdown: str, chain_heading: str) -> list[list[str]]:
    """The cells of the data rows of the table under the heading starting with ``chain_heading``."""
    section = markdown.split(chain_heading, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_the_section_lists_each_chain_in_order_with_the_recorded_metrics(requests, capsys) -> None:
    r, (root, child, branch, other) = requests
    assert main(["report", "--store", r.store]) == 0
    text = capsys.readouterr().out
    assert text.startswith("## Deletion requests\n")
    assert "drift: " not in text  # nothing was attached
    first = _table_rows(text, f"### Chain {root['request_id'][:12]} (3 request(s), branching; finetune)")
    assert [row[:5] for row in first] == [
        ["1", root["request_id"][:12], "", "finetune", "3 rows (3)"],
        ["2", child["request_id"][:12], root["request_id"][:12], "finetune", "1 rows (4)"],
        ["2", branch["request_id"][:12], root["request_id"][:12], "finetune", "2 rows (5)"],
    ]
    header = text.split(f"### Chain {root['request_id'][:12]}", 1)[1].splitlines()[2]
    metrics = sorted(root["metrics"]["after"])
    assert header == "| # | request | parent | method | deleted (so far) | " + " | ".join(metrics) + " | method s | wall s |"
    for row, record in zip(first, (root, child, branch), strict=True):
        expected = [f"{record['metrics']['before'][m]:.3f} → {record['metrics']['after'][m]:.3f}" for m in metrics]
        assert row[5:5 + len(metrics)] == expected
        assert row[-2:] == [f"{record['method_seconds']:.2f}", f"{record['wall_seconds']:.2f}"]
    second = _table_rows(text, f"### Chain {other['request_id'][:12]} (1 request(s); finetune)")
    assert [row[:5] for row in second] == [["1", other["request_id"][:12], "", "finetune", "1 rows (1)"]]


def test_the_json_report_has_one_record_per_chain(requests, capsys) -> None:
    r, (root, child, branch, other) = requests
    assert main(["report", "--store", r.store, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(x["section"], x["chain"]) for x in records] == [("deletion requests", root["request_id"]),
                                                             ("deletion requests", other["request_id"])]
    steps = records[0]["requests"]
    assert [(s["request_id"], s["position"], s["deleted_so_far"]) for s in steps] == [
        (root["request_id"], 1, 3), (child["request_id"], 2, 4), (branch["request_id"], 2, 5)]
    assert steps[1]["metrics"] == child["metrics"] and steps[1]["params"] == child["params"]
    assert steps[0]["drift"] == {} and steps[0]["noise_floor"] == {}


def test_drift_arrays_round_trip_and_show_in_every_format(requests, capsys) -> None:
    r, (root, child, branch, other) = requests
    store = SQLiteStore(r.store)
    store.write_request_arrays({
        root["request_id"]: {"drift/gap": np.asarray(0.5), "noise_floor/gap": np.asarray(0.25), "other": np.arange(3)},
        child["request_id"]: {"drift/gap": np.asarray(1.25), "drift/distance": np.array([0.1, 0.3])},
    })
    arrays = StoreReader(r.store).arrays(root["request_id"])
    assert sorted(arrays) == ["drift/gap", "noise_floor/gap", "other"]
    assert arrays["drift/gap"].shape == () and float(arrays["drift/gap"]) == 0.5 and arrays["other"].tolist() == [0, 1, 2]
    assert StoreReader(r.store).arrays(branch["request_id"]) == {}

    assert main(["report", "--store", r.store]) == 0
    text = capsys.readouterr().out
    first = _table_rows(text, f"### Chain {root['request_id'][:12]}")
    # drift columns in name order (distance, gap), then the noise floor; a request with nothing measured shows —
    assert [row[-3:] for row in first] == [["—", "0.5", "0.25"], ["0.2", "1.25", "—"], ["—", "—", "—"]]
    assert "drift: NAME is a distance" in text
    assert "drift: " not in text.split(f"### Chain {other['request_id'][:12]}", 1)[1]  # the other chain has no drift columns

    assert main(["report", "--store", r.store, "--format", "json"]) == 0
    steps = json.loads(capsys.readouterr().out)[0]["requests"]
    assert [s["drift"] for s in steps] == [{"gap": 0.5}, {"distance": pytest.approx(0.2), "gap": 1.25}, {}]
    assert [s["noise_floor"] for s in steps] == [{"gap": 0.25}, {}, {}]

    page = render_html(StoreReader(r.store), load_report(StoreReader(r.store)))
    assert page.count('alt="drift vs number of requests"') == 1  # the chain with drift has its curve, the other none
    assert "<th>drift: gap</th>" in page and "<th>noise floor: gap</th>" in page

    # attaching again replaces a request's arrays
    store.write_request_arrays({root["request_id"]: {"drift/gap": np.asarray(2.0)}})
    assert StoreReader(r.store).arrays(root["request_id"]).keys() == {"drift/gap"}
    assert request_chains(StoreReader(r.store))[0].steps[0].drift == {"gap": 2.0}


def test_arrays_for_an_unknown_request_are_refused_and_nothing_is_written(requests) -> None:
    r, (root, *_) = requests
    before = hashlib.sha256(Path(r.store).read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="no deletion request with id\\(s\\) nope; it holds 4 request\\(s\\)"):
        SQLiteStore(r.store).write_request_arrays({root["request_id"]: {"drift/gap": np.asarray(1.0)}, "nope": {"drift/x": np.ones(1)}})
    assert StoreReader(r.store).arrays(root["request_id"]) == {}
    assert hashlib.sha256(Path(r.store).read_bytes()).hexdigest() == before
    with pytest.raises(StoreError, match="the file does not exist"):
        SQLiteStore(str(Path(r.folder) / "missing.sqlite")).write_request_arrays({})
    assert not (Path(r.folder) / "missing.sqlite").exists()


def test_an_empty_drift_array_is_a_clear_error(requests) -> None:
    r, (root, *_) = requests
    SQLiteStore(r.store).write_request_arrays({root["request_id"]: {"drift/gap": np.zeros(0)}})
    with pytest.raises(StoreError, match=f"deletion request {root['request_id']}: the array 'drift/gap' is empty"):
        request_chains(StoreReader(r.store))


def test_the_report_never_writes_to_the_store(requests, tmp_path) -> None:
    r, (root, *_) = requests
    SQLiteStore(r.store).write_request_arrays({root["request_id"]: {"drift/gap": np.asarray(0.5)}})
    store = Path(r.store)
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    for fmt in ("md", "json", "html"):
        assert main(["report", "--store", str(store), "--format", fmt, "--output", str(tmp_path / f"report.{fmt}")]) == 0
        assert hashlib.sha256(store.read_bytes()).hexdigest() == before, fmt
        # a WAL reader may create SQLite's companion files (store/connection.py); nothing is ever written to the log
        wal = Path(str(store) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, fmt
    assert "drift vs number of requests" in (tmp_path / "report.html").read_text()


def test_a_store_with_experiments_and_requests_keeps_its_experiment_report_and_adds_the_section(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "own").mkdir()
    r = Request(tmp_path / "own", monkeypatch)
    store = tmp_path / "store.sqlite"
    shutil.copyfile(FIXTURES / "store_v0.sqlite", store)
    record = _forget(r, capsys, store=str(store))  # the request's audit row goes into the (migrated) experiment store
    assert [a.request_id for a in audit_records(str(store))] == [record["request_id"]]
    assert main(["report", "--store", str(store)]) == 0
    text = capsys.readouterr().out
    without = (FIXTURES / "store_v0.report.md").read_text()
    assert text.startswith(without.rstrip("\n") + "\n\n## Deletion requests\n")
    assert re.search(rf"\n\| 1 \| {record['request_id'][:12]} \|  \| finetune \| 3 rows \(3\) \|", text)
    assert main(["report", "--store", str(store), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[:-1] == json.loads((FIXTURES / "store_v0.report.json").read_text())
    assert records[-1]["chain"] == record["request_id"]
    # a report of chosen experiments leaves the requests out (they belong to no experiment)
    experiment = records[0]["experiment"]
    assert main(["report", "--store", str(store), "--experiment", experiment]) == 0
    assert "Deletion requests" not in capsys.readouterr().out


def test_a_store_without_requests_reports_as_before(capsys) -> None:
    assert main(["report", "--store", str(FIXTURES / "store_v0.sqlite")]) == 0
    assert capsys.readouterr().out == (FIXTURES / "store_v0.report.md").read_text()
    assert load_report(StoreReader(str(FIXTURES / "store_v0.sqlite"))).requests == []  # so the HTML page gets no section either
