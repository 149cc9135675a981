"""The README's example of deleting data from your own model runs as shipped."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_model.py"


def test_own_model_example_runs_and_reports_both_methods(capsys) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["forget_accuracy"][0] == "1.000"  # the model memorised its training set
    assert float(lines["forget_accuracy"][2]) < 1.0  # retraining without the 20 examples misses some of them
    assert "new model: Net (your `model` is untouched)" in out


def test_the_readme_shows_the_example_as_shipped() -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text(encoding="utf-8")
    code = EXAMPLE.read_text(encoding="utf-8")
    body = code[code.index("import torch") :]
    assert body in readme
    assert readme.index("## Deleting data from your own model") < readme.index("## Benchmarks")
