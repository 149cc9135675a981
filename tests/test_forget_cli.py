"""``unlearnkit forget`` and ``unlearnkit audit`` on a model defined here: records, chains, every bad input, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from unlearnkit.cli.main import main
from unlearnkit.data.ids import file_digest, ids_digest
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, TIME_WEIGHT
from unlearnkit.store.audit import audit_records

FACTORY = '''
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.hidden = nn.Linear(5, width)
        self.out = nn.Linear(width, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def build():
    return TinyNet()


def build_wide():
    return TinyNet(width=32)
'''


RECIPE = ("epochs=50", "batch_size=80", "lr=0.1", "momentum=0.0", "weight_decay=0.0", "schedule='constant'")


class Request:
    """A folder with a factory module, a trained checkpoint, data and ids; ``run`` calls the CLI in-process."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.module = f"own_models_{uuid.uuid4().hex[:8]}"
        (folder / f"{self.module}.py").write_text(FACTORY)
        monkeypatch.chdir(folder)
        monkeypatch.syspath_prepend(str(folder))
        g = torch.Generator().manual_seed(0)
        x, xv = torch.randn(80, 5, generator=g), torch.randn(30, 5, generator=g)
        w = torch.randn(5, 3, generator=g)
        np.savez(folder / "train.npz", x=x.numpy(), y=(x @ w).argmax(1).numpy())
        np.savez(folder / "val.npz", x=xv.numpy(), y=(xv @ w).argmax(1).numpy())
        module = __import__(self.module)
        model = module.build()
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(50):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x), (x @ w).argmax(1)).backward()
            optimiser.step()
        save_file(model.state_dict(), str(folder / "model.safetensors"))
        (folder / "ids.txt").write_text("3\n1\n4\n")
        self.store = str(folder / "audit.sqlite")

    def args(self, **overrides: str | None) -> list[str]:
        options: dict[str, str | None] = {
            "--model-factory": f"{self.module}:build",
            "--checkpoint": "model.safetensors",
            "--data": "train.npz",
            "--validation": "val.npz",
            "--forget-ids": "ids.txt",
            "--method": "finetune",
            "--out": "out.safetensors",
            "--store": self.store,
        }
        options.update({"--" + k.replace("_", "-"): v for k, v in overrides.items()})
        argv = ["forget"]
        for flag, value in options.items():
            if value is not None:
                argv += [flag, value]
        # How the checkpoint was trained (above): finetune derives its hyper-parameters from it.
        for assignment in RECIPE:
            argv += ["--recipe", assignment]
        return argv

    def rows(self) -> int:
        return len(audit_records(self.store)) if os.path.exists(self.store) else 0


@pytest.fixture
def request_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Request:
    return Request(tmp_path, monkeypatch)


def test_forget_writes_the_checkpoint_and_a_complete_audit_record(request_folder: Request, capsys) -> None:
    r = request_folder
    before = file_digest("model.safetensors")
    assert main([*r.args(), "--param", "epochs=2", "--param", "lr=0.05", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert file_digest("model.safetensors") == before  # the input is never modified
    assert record["checkpoint_before_sha256"] == before
    assert record["checkpoint_after_sha256"] == file_digest("out.safetensors") != before
    assert record["ids_count"] == 3 and record["ids_sha256"] == ids_digest(np.array([1, 3, 4]))
    assert record["method"] == "finetune" and record["params"]["epochs"] == 2 and record["params"]["lr"] == 0.05
    assert record["params"]["batch_size"] == 80  # every parameter, task-derived defaults filled in (the recipe's)
    assert record["parent_id"] is None and record["kind"] == "classification"
    assert record["data_sha256"] == file_digest("train.npz") and record["validation_sha256"] == file_digest("val.npz")
    assert set(record["metrics"]) == {"before", "after"} and "mia_auc" in record["metrics"]["after"]
    assert record["started_at"] <= record["finished_at"] and record["wall_seconds"] >= record["method_seconds"] > 0
    assert not [p for p in os.listdir(".") if p.endswith(".partial")]
    assert main(["audit", "verify", record["request_id"][:8], "--store", r.store]) == 0
    assert main(["audit", "show", record["request_id"], "--store", r.store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == record


def test_forget_selects_oracle_free_and_records_the_selection(request_folder: Request, capsys) -> None:
    r = request_folder
    assert main([*r.args(), "--select", "oracle-free", "--budget", "3", "--seed", "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    selection = record["selection"]
    assert selection["criterion"] == "oracle_free" and selection["budget"] == 3 and selection["seed"] == 2
    assert len(selection["trials"]) == 3 and selection["trials"][0]["params"]["lr"] is None  # the configured setting first
    best = min((t for t in selection["trials"] if t["feasible"]), key=lambda t: t["score"])
    assert selection["chosen"] == best["params"]
    # The checkpoint was made with the chosen setting: params are every hyper-parameter it ran with.
    assert all(record["params"][k] == v for k, v in selection["chosen"].items() if v is not None)
    assert record["params"]["batch_size"] == 80 and "@selection" not in record["params"]
    stored = audit_records(r.store)[0]
    assert stored.selection == selection and stored.params == record["params"]
    assert main(["audit", "show", stored.request_id, "--store", r.store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["selection"] == selection
    assert main([*r.args(out="second.safetensors"), "--select", "oracle-free", "--budget", "3", "--seed", "2"]) == 0
    assert "selected oracle-free from 3 setting(s)" in capsys.readouterr().out
    assert file_digest("second.safetensors") == file_digest("out.safetensors")  # deterministic for a seed


def test_forget_passes_the_tolerance_and_training_seconds_to_the_selection(request_folder: Request, capsys) -> None:
    r = request_folder
    options = ["--select", "oracle-free", "--budget", "3", "--seed", "2", "--json"]
    assert main([*r.args(), *options]) == 0
    plain = json.loads(capsys.readouterr().out)["selection"]
    assert main([*r.args(out="timed.safetensors"), *options, "--utility-tolerance", "0", "--training-seconds", "0.5"]) == 0
    timed = json.loads(capsys.readouterr().out)["selection"]
    assert (plain["tolerance"], plain["training_seconds"]) == (DEFAULT_TOLERANCE, None)
    assert (timed["tolerance"], timed["training_seconds"]) == (0.0, 0.5)
    for before, after in zip(plain["trials"], timed["trials"], strict=True):
        assert before["params"] == after["params"] and before["criteria"] == after["criteria"] and before["time_term"] == 0.0
        assert after["time_term"] == pytest.approx(TIME_WEIGHT * after["seconds"] / 0.5, rel=1e-12) and after["time_term"] > 0
        assert after["score"] == pytest.approx(before["score"] + after["time_term"], rel=1e-12)
        c = after["criteria"]  # tolerance 0: the floor is the original's validation accuracy less two standard errors
        assert after["feasible"] == (c["validation_utility"] >= c["original_validation_utility"] - 2 * c["validation_noise"])
    (stored,) = [record for record in audit_records(r.store) if record.output_path == "timed.safetensors"]
    assert stored.selection == timed


def test_requests_in_sequence_form_a_chain_and_verify_catches_changes(request_folder: Request, capsys) -> None:
    r = request_folder
    assert main([*r.args(), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    # the second request starts from the first one's output, on the data without the deleted rows
    data = np.load("train.npz")
    keep = np.setdiff1d(np.arange(len(data["y"])), [1, 3, 4])
    np.savez("train2.npz", x=data["x"][keep], y=data["y"][keep])
    Path("ids2.txt").write_text("0\n")
    assert main([*r.args(checkpoint="out.safetensors", data="train2.npz", forget_ids="ids2.txt", out="out2.pt"), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["parent_id"] == first["request_id"] and second["checkpoint_before_sha256"] == first["checkpoint_after_sha256"]
    assert main(["audit", "list", "--json", "--store", r.store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [x["request_id"] for x in listed] == [first["request_id"], second["request_id"]]
    # a torch checkpoint (weights only) works as input too
    np.savez("train3.npz", x=data["x"][keep[1:]], y=data["y"][keep[1:]])
    Path("ids3.txt").write_text("2\n")
    assert main(r.args(checkpoint="out2.pt", data="train3.npz", forget_ids="ids3.txt", out="out3.safetensors")) == 0
    # verify: a changed output, then a missing one
    with open("out2.pt", "ab") as handle:
        handle.write(b"x")
    assert main(["audit", "verify", second["request_id"], "--store", r.store]) == 1
    assert "output checkpoint out2.pt has changed" in capsys.readouterr().err
    os.remove("out.safetensors")
    assert main(["audit", "verify", first["request_id"], "--store", r.store]) == 1
    assert "output checkpoint out.safetensors is missing" in capsys.readouterr().err


def _pickled_checkpoint(folder: Path) -> None:
    class Payload:
        def __reduce__(self):  # what a malicious checkpoint does: run code when unpickled
            return (os.system, (f"touch {folder / 'EXECUTED'}",))

    torch.save({"hidden.weight": Payload()}, folder / "evil.pt")


BAD_INPUTS = {
    "ids out of range": (lambda f: (f / "bad.txt").write_text("1\n80\n"), {"forget_ids": "bad.txt"},
                         r"bad.txt: 1 training index\(s\) out of range \[0, 80\): 80"),
    "ids duplicated": (lambda f: (f / "bad.txt").write_text("1\n2\n1\n"), {"forget_ids": "bad.txt"}, "listed more than once: 1"),
    "ids file empty": (lambda f: (f / "bad.txt").write_text("\n"), {"forget_ids": "bad.txt"}, "bad.txt: no ids given"),
    "ids not integers": (lambda f: (f / "bad.txt").write_text("1\n2.5\n"), {"forget_ids": "bad.txt"},
                         "bad.txt:2: expected one integer training index per line; got '2.5'"),
    "ids file missing": (lambda f: None, {"forget_ids": "nope.txt"}, "id file 'nope.txt' does not exist"),
    "checkpoint does not fit the factory": (lambda f: None, {"model_factory": "MODULE:build_wide"},
                                           r"does not fit the model built by .*hidden.weight: checkpoint \(16, 5\), model \(32, 5\)"),
    "x and y lengths differ": (lambda f: np.savez(f / "bad.npz", x=np.zeros((10, 5), np.float32), y=np.zeros(9, np.int64)),
                               {"data": "bad.npz"}, "train_data: x has 10 examples but y has 9 labels"),
    "data without x and y": (lambda f: np.savez(f / "bad.npz", a=np.zeros(3)), {"data": "bad.npz"},
                             r"expected arrays x and y .* got \['a'\]"),
    "unknown method": (lambda f: None, {"method": "scrubb"}, r"unknown method 'scrubb' \(did you mean 'scrub'\?\)"),
    "unknown parameter": (lambda f: None, {"param": "lrr=0.1"}, r"unknown parameter of Finetune; .*\(did you mean 'lr'\?\)"),
    "invalid parameter": (lambda f: None, {"param": "lr=-1"}, r"finetune.lr: must be None or a float in \(0.0, inf\); got -1"),
    "out folder missing": (lambda f: None, {"out": "no/such/folder/out.safetensors"}, "the folder .* does not exist"),
    "out under a file": (lambda f: (f / "plain").write_text(""), {"out": "plain/out.safetensors"}, "the folder .* does not exist"),
    "out exists": (lambda f: (f / "out.safetensors").write_text("keep"), {}, "already exists; choose a new path"),
    "out is the input": (lambda f: None, {"out": "model.safetensors"}, "is the input checkpoint; the input is never modified"),
    "out has no checkpoint suffix": (lambda f: None, {"out": "out.txt"}, "the name must end in one of"),
    "pickled checkpoint": (_pickled_checkpoint, {"checkpoint": "evil.pt"}, "refused: it holds pickled objects other than tensors"),
    "factory not found": (lambda f: None, {"model_factory": "MODULE:nope"}, "has no attribute 'nope'"),
    "store is not a store": (lambda f: (f / "notes.sqlite").write_text("hello"), {"store": "notes.sqlite"},
                             "is not an SQLite database"),
    "unknown selection": (lambda f: None, {"select": "oracle_free"}, "--select: the only selection is 'oracle-free'; got 'oracle_free'"),
    "budget without selection": (lambda f: None, {"budget": "3"}, "--budget is only read with --select oracle-free"),
    "budget not an integer": (lambda f: None, {"select": "oracle-free", "budget": "two"}, "--budget: an integer of at least 1; got 'two'"),
    "budget zero": (lambda f: None, {"select": "oracle-free", "budget": "0"}, "--budget: an integer of at least 1; got '0'"),
    "utility tolerance without selection": (lambda f: None, {"utility_tolerance": "0.1"},
                                            "--utility-tolerance is only read with --select oracle-free; got --utility-tolerance 0.1"),
    "training seconds without selection": (lambda f: None, {"training_seconds": "60"},
                                           "--training-seconds is only read with --select oracle-free; got --training-seconds 60"),
    "utility tolerance of 1": (lambda f: None, {"select": "oracle-free", "utility_tolerance": "1"},
                               r"--utility-tolerance must be in \[0, 1\): the share .* a setting may lose and stay selectable; got 1.0"),
    "utility tolerance NaN": (lambda f: None, {"select": "oracle-free", "utility_tolerance": "nan"},
                              r"--utility-tolerance must be in \[0, 1\).*got nan"),
    "utility tolerance not a number": (lambda f: None, {"select": "oracle-free", "utility_tolerance": "5%"},
                                       r"--utility-tolerance must be in \[0, 1\).*got '5%'"),
    "training seconds zero": (lambda f: None, {"select": "oracle-free", "training_seconds": "0"},
                              r"--training-seconds must be a finite number of seconds above 0 .*got 0.0"),
    "training seconds infinite": (lambda f: None, {"select": "oracle-free", "training_seconds": "inf"},
                                  r"--training-seconds must be a finite number of seconds above 0 .*got inf"),
    "training seconds not a number": (lambda f: None, {"select": "oracle-free", "training_seconds": "1h"},
                                      r"--training-seconds must be a finite number of seconds above 0 .*got '1h'"),
    "selection without validation": (lambda f: None, {"select": "oracle-free", "validation": None},
                                     r"validation: select='oracle_free' compares .* \(none was given\)"),
    "selection on too small a validation": (
        lambda f: np.savez(f / "small.npz", x=np.zeros((1, 5), np.float32), y=np.zeros(1, np.int64)),
        {"select": "oracle-free", "validation": "small.npz"}, "validation: too small for select='oracle_free'.*got 1 validation"),
    "selection for a method without a search space": (lambda f: None, {"select": "oracle-free", "method": "retrain"},
                                                      "method 'retrain' has no hyper-parameter search space"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line_and_writes_nothing(request_folder: Request, case: str, capsys) -> None:
    r = request_folder
    prepare, overrides, message = BAD_INPUTS[case]
    prepare(r.folder)
    overrides = {k: v if v is None else v.replace("MODULE", r.module) for k, v in overrides.items()}
    param = overrides.pop("param", None)
    listing = set(os.listdir(r.folder))
    checkpoint_digest = file_digest("model.safetensors")
    code = main(r.args(**overrides) + (["--param", param] if param else []))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert __import__("re").search(message, " ".join(err.split())), err
    assert set(os.listdir(r.folder)) == listing  # no checkpoint, no partial file, no store
    assert file_digest("model.safetensors") == checkpoint_digest
    assert not (r.folder / "EXECUTED").exists()


def test_the_same_data_after_a_deletion_is_refused(request_folder: Request, capsys) -> None:
    r = request_folder
    assert main(r.args()) == 0
    Path("ids2.txt").write_text("0\n")
    assert main(r.args(checkpoint="out.safetensors", forget_ids="ids2.txt", out="out2.safetensors")) == 2
    assert "they are still in it" in capsys.readouterr().err
    assert r.rows() == 1 and not os.path.exists("out2.safetensors")


# -- kill -9 --------------------------------------------------------------------------------
# Each hook is appended to the factory module, which the CLI imports before the request runs:
# it stops the process at one point of the write sequence and waits to be killed.
HOOKS = {
    "before the record": '''
import unlearnkit.requests.service as service
def _stop(*args, **kwargs):
    open("REACHED", "w").close(); time.sleep(600)
service.write_audit = _stop
''',
    "inside the record's transaction": '''
import contextlib, unlearnkit.store.audit as audit
_real = audit.open_for_writing
@contextlib.contextmanager
def _stop(path):
    with _real(path) as db:
        yield db  # the INSERT has run, the COMMIT has not
        open("REACHED", "w").close(); time.sleep(600)
audit.open_for_writing = _stop
''',
    "after the record, before the rename": '''
import os as _os
def _stop(*args, **kwargs):
    open("REACHED", "w").close(); time.sleep(600)
_os.replace = _stop
''',
}


# A subprocess costs ~10 s (importing torch on a loaded machine): the transaction case runs by default, the others with -m slow.
@pytest.mark.parametrize(
    "point", [pytest.param(p, marks=[] if p == "inside the record's transaction" else [pytest.mark.slow]) for p in HOOKS]
)
def test_kill_9_leaves_no_partial_checkpoint_and_no_half_written_record(request_folder: Request, point: str) -> None:
    r = request_folder
    module = r.folder / f"{r.module}.py"
    module.write_text(FACTORY + "\nimport time\n" + HOOKS[point])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(r.folder), *sys.path])}
    process = subprocess.Popen([sys.executable, "-m", "unlearnkit", *r.args()], cwd=r.folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (r.folder / "REACHED").exists():
        if process.poll() is not None:
            pytest.fail(f"the process ended before the hook: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the hook was not reached in time")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (r.folder / "out.safetensors").exists()  # never a partial (or unrecorded) checkpoint at --out
    records = audit_records(r.store) if os.path.exists(r.store) else []
    if point == "after the record, before the rename":
        # the record is complete; its output never arrived, which verify reports
        assert len(records) == 1 and records[0].checkpoint_after_sha256 and records[0].metrics["after"]
        assert main(["audit", "verify", records[0].request_id, "--store", r.store]) == 1
    else:
        assert records == []
    # the store is intact and still takes a request
    (r.folder / f"{r.module}.py").write_text(FACTORY)
    for name in list(sys.modules):
        if name == r.module:
            del sys.modules[name]
    assert main(r.args(out="again.safetensors")) == 0
    assert len(audit_records(r.store)) == len(records) + 1


def test_an_older_store_reads_an_empty_audit_trail_without_being_changed(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "v0.sqlite"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "store_v0.sqlite", copy)
    digest = file_digest(str(copy))
    assert audit_records(str(copy)) == []
    assert file_digest(str(copy)) == digest


RECOMMENDER_FACTORY = '''
from unlearnkit.models.recsys.embedding import Recommender


def build():
    return Recommender(12, 9, dim=4, layers=0)
'''


def test_forget_on_a_recommender_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    module = f"own_recommender_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(RECOMMENDER_FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(0)
    user, item = rng.integers(0, 12, 150), rng.integers(0, 9, 150)
    label = (rng.random(150) < 0.5).astype(np.int64)
    np.savez("train.npz", user=user[:110], item=item[:110], label=label[:110])
    np.savez("val.npz", user=user[110:], item=item[110:], label=label[110:])
    model = __import__(module).build()
    with torch.no_grad():
        model.user_embedding.normal_(0, 0.1)
        model.item_embedding.normal_(0, 0.1)
    save_file(model.state_dict(), "rec.safetensors")
    Path("users.txt").write_text(f"{user[0]}\n")
    base = ["forget", "--model-factory", f"{module}:build", "--checkpoint", "rec.safetensors", "--data", "train.npz",
            "--validation", "val.npz", "--forget-ids", "users.txt", "--forget-unit", "users", "--method", "finetune_rec"]
    assert main([*base, "--recipe", "l2=0.01", "--out", "rec2.safetensors", "--store", "audit.sqlite", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "recommendation" and record["forget_unit"] == "users" and record["ids_count"] == 1
    assert record["recipe"] == {"l2": 0.01}
    # the same request without the recipe the method reads: one clear line, nothing written
    assert main([*base, "--out", "rec3.safetensors", "--store", "audit.sqlite"]) == 2
    assert "reads the training recipe ('l2')" in capsys.readouterr().err
    assert not os.path.exists("rec3.safetensors") and len(audit_records("audit.sqlite")) == 1


def test_an_unwritable_out_folder_is_refused_before_any_work(request_folder: Request, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    r = request_folder
    readonly = r.folder / "readonly"
    readonly.mkdir()
    real_access = os.access
    # Tests run as root, for whom permission bits do not stop writes: report this folder as read-only instead.
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path).resolve() == readonly.resolve() else real_access(path, mode))
    assert main(r.args(out="readonly/out.safetensors")) == 2
    assert f"the folder {readonly} is not writable" in " ".join(capsys.readouterr().err.split())
    assert os.listdir(readonly) == [] and r.rows() == 0
