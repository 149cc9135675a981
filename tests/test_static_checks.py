"""Static checks run with the tests: mypy (strict, on src/), ruff, and reasons on every suppression.

The README's test command (and ``.ci/run``) is ``python -m pytest``, so these
tests are what makes the type checker and the linter part of CI. Their
configuration lives in ``pyproject.toml``; the tests below also pin that
configuration, so that strictness cannot be switched off quietly and the
temporary exemptions can only shrink.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("src", "tests", "benchmarks", "scripts")

# Modules being edited on concurrent branches when the checks were introduced:
# typed after those branches merge. The configuration may list fewer, never more.
TEMPORARY_MYPY_EXEMPT = {
    "unlearnkit.methods.*",
    "unlearnkit.data.recsys.*",
    "unlearnkit.data.sources.*",
    "unlearnkit.data.registry",
    "unlearnkit.models.recsys.*",
    "unlearnkit.training.recsys",
    "unlearnkit.metrics.recsys",
    "unlearnkit.metrics.recsys_metrics",
}
TEMPORARY_RUFF_EXEMPT = {
    "src/unlearnkit/data/recsys/__init__.py": {"RUF022"},
    "src/unlearnkit/data/sources/orl_faces.py": {"SIM115"},
    "src/unlearnkit/methods/flat_loss.py": {"B905", "B023"},
    "src/unlearnkit/methods/last_k.py": {"B905"},
    "src/unlearnkit/methods/msg.py": {"B905"},
    "src/unlearnkit/methods/schedules.py": {"B905"},
    "src/unlearnkit/methods/recsys/ifru.py": {"E501"},
    "src/unlearnkit/methods/recsys/task.py": {"F401"},
}


def _config() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _mypy_exempt_modules() -> set[str]:
    overrides = _config()["mypy"].get("overrides", [])
    exempt: set[str] = set()
    for override in overrides:
        if override.get("ignore_errors"):
            modules = override["module"]
            exempt.update([modules] if isinstance(modules, str) else modules)
    return exempt


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT / "src").with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _mypy_exempt(path: Path, patterns: set[str]) -> bool:
    """Whether the module at ``path`` matches one of mypy's module ``patterns`` (``a.*`` covers ``a`` too)."""
    if not path.is_relative_to(ROOT / "src"):
        return False
    name = _module_name(path)
    return any(name == pattern.removesuffix(".*") or fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def test_mypy_is_strict_on_src_and_only_temporary_modules_are_exempt() -> None:
    mypy = _config()["mypy"]
    assert mypy["strict"] is True and mypy["files"] == ["src"]
    exempt = _mypy_exempt_modules()
    assert exempt <= TEMPORARY_MYPY_EXEMPT, f"new mypy exemptions: {sorted(exempt - TEMPORARY_MYPY_EXEMPT)}"
    for override in mypy.get("overrides", []):
        # Only `ignore_missing_imports` (untyped third-party packages) and the temporary list may relax anything.
        assert set(override) <= {"module", "ignore_missing_imports", "ignore_errors"}, override
        if override.get("ignore_missing_imports"):
            modules = override["module"]
            assert not any(m.startswith("unlearnkit") for m in ([modules] if isinstance(modules, str) else modules))


def test_ruff_exemptions_are_only_the_temporary_ones() -> None:
    per_file = _config()["ruff"]["lint"].get("per-file-ignores", {})
    for path, rules in per_file.items():
        assert path in TEMPORARY_RUFF_EXEMPT and set(rules) <= TEMPORARY_RUFF_EXEMPT[path], f"new ruff exemption: {path} {rules}"


def test_mypy_strict_passes_on_src() -> None:
    result = _run("mypy")  # files, strictness and overrides come from pyproject.toml
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"


def test_ruff_passes() -> None:
    result = _run("ruff", "check", "--no-cache", "--output-format", "concise", *LINTED)
    assert result.returncode == 0, f"ruff found problems:\n{result.stdout}{result.stderr}"


# A suppression comment names its code(s), then says why: "type: ignore[code]  # why", "noqa: CODE - why".
_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<code>\[[^\]]*\])?(?P<rest>.*)$")
_NOQA = re.compile(r"#\s*noqa\b(?P<code>:\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)$")
_REASON = re.compile(r"^\s*(#|-|—|:)\s*\S")


def _suppressions_without_reason(path: Path, root: Path = ROOT) -> list[str]:
    """Comments (not strings: the file is tokenized) that suppress a check without a code and a reason."""
    problems = []
    with open(path, encoding="utf-8") as handle:
        comments = [(t.start[0], t.string) for t in tokenize.generate_tokens(handle.readline) if t.type == tokenize.COMMENT]
    for number, comment in comments:
        for kind, pattern in (("type: ignore", _IGNORE), ("noqa", _NOQA)):
            match = pattern.search(comment)
            if match is not None and (not match["code"] or not _REASON.match(match["rest"])):
                problems.append(f"{path.relative_to(root)}:{number}: {kind} needs an error code and a reason: {comment}")
    return problems


def test_every_suppression_names_its_code_and_gives_a_reason() -> None:
    files = sorted(p for folder in LINTED for p in (ROOT / folder).rglob("*.py"))
    assert len(files) > 100
    exempt = _mypy_exempt_modules()  # typed (and their suppressions explained) after the concurrent branches merge
    problems = [problem for path in files if not _mypy_exempt(path, exempt) for problem in _suppressions_without_reason(path)]
    assert not problems, "\n".join(problems)


def test_the_suppression_check_can_fail(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        "a = f()  # type: ignore\n"
        "b = f()  # type: ignore[arg-type]\n"
        "c = f()  # type: ignore[arg-type]  # the stub is wrong\n"
        "d = f()  # noqa\n"
        "e = f()  # noqa: B023 - called at once\n",
        encoding="utf-8",
    )
    problems = _suppressions_without_reason(source, tmp_path)
    assert [p.split(":")[1] for p in problems] == ["1", "2", "4"]
