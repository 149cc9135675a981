"""Measured overheads of the runner (issue 15): parallel efficiency, training-loop overhead, peak memory, kill-and-resume.

    python benchmarks/overheads.py loop       # train_model vs a bare PyTorch loop (same model, data, seed)
    python benchmarks/overheads.py parallel   # a 48-unit sweep (8 seeds) with 1 and 2 Ray workers
    python benchmarks/overheads.py resume     # an uninterrupted run vs one killed half-way and re-run
    python benchmarks/overheads.py memory [CONFIG ...]  # peak RSS (/usr/bin/time -v) of benchmark configs, first seed only

Each part prints Markdown lines with the machine's load (``uptime``) next to
every timing, wall and CPU time (the machine may be shared: CPU time is
what the work cost, wall time what it took). Results: benchmarks/results/overheads.md.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """
[[experiment]]
name = "overhead_sweep"
goal = "untraining"
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
dataset = { name = "digits" }
split = { test_per_group = 20, validation_fraction = 0.1 }
forget = { name = "random", fraction = 0.1 }
model = { name = "cnn", channels = 16, hidden = 64 }
train = { epochs = 20, batch_size = 32, lr = 0.05, momentum = 0.9 }
metrics = ["retain_acc", "forget_acc", "test_acc", "avg_gap", "wall_time"]

[[experiment.methods]]
name = "retrain"

[[experiment.methods]]
name = "finetune"
epochs = 5

[[experiment.methods]]
name = "neggrad_plus"
epochs = 5
"""


def load() -> str:
    return os.getloadavg().__repr__()


def timed(command: list[str], environment: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the process and its waited-for descendants, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.run(command, env={**os.environ, **(environment or {})}, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode not in (0, -9):
        print(process.stderr[-2000:], file=sys.stderr)
    return wall, cpu, process.returncode


def unlearnkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "unlearnkit", *args]


# -- training-loop overhead -----------------------------------------------------------------


def bare_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int, lr: float, seed: int) -> None:
    """The same updates as ``train_model`` with a constant-lr SGD recipe, with nothing around them."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch):
            index = order[start : start + batch]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def loop_overhead(repetitions: int) -> None:
    from unlearnkit.data import DATASETS
    from unlearnkit.models import MODELS
    from unlearnkit.training import TrainSpec, train_model
    from unlearnkit.training.loop import predict_logits

    torch.set_num_threads(1)
    data = DATASETS["mnist5k"]().load()
    x, y = data.x, data.y
    builder = MODELS["cnn"](channels=16, hidden=64)
    spec = TrainSpec(epochs=3, batch_size=64, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="constant")
    variants = ("train_model", "bare", "bare + evaluation")
    times: dict[str, list[float]] = {name: [] for name in variants}
    states = {}
    print(f"- load before: {load()}")
    for repetition in range(repetitions):
        for name in variants[repetition % 3 :] + variants[: repetition % 3]:  # rotate the order: no variant always runs first
            model = builder.build(data.meta, torch.Generator().manual_seed(0))
            start = time.process_time()
            if name == "train_model":
                train_model(model, x, y, spec, torch.Generator().manual_seed(1))
            else:
                bare_loop(model, x, y, spec.epochs, spec.batch_size, spec.lr, seed=1)
                if name == "bare + evaluation":  # what train_model adds on purpose: train loss and accuracy for the log
                    F.cross_entropy(predict_logits(model, x), y)
            times[name].append(time.process_time() - start)
            states[name] = [p.detach().clone() for p in model.parameters()]
    identical = all(torch.equal(a, b) for a, b in zip(states["train_model"], states["bare"], strict=True))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"- mnist5k ({len(y)} images), cnn(16, 64), 3 epochs, batch 64, 1 thread, {repetitions} repetitions in rotating order")
    for name in variants:
        print(f"- {name}: median {median[name]:.2f} s CPU (all: {[round(t, 2) for t in times[name]]})")
    print(
        f"- train_model vs the bare loop: {100 * (median['train_model'] / median['bare'] - 1):+.1f} %; "
        f"vs the bare loop plus the same evaluation pass: {100 * (median['train_model'] / median['bare + evaluation'] - 1):+.1f} % "
        f"(goal <= 5 %); identical parameters after training: {identical}"
    )
    print(f"- load after: {load()}")


# -- parallel efficiency --------------------------------------------------------------------


def parallel(folder: Path) -> None:
    config = folder / "sweep.toml"
    config.write_text(SWEEP)
    rows = []
    for label, extra in (
        ("in process, 1 thread", ["--cpus-per-unit", "1"]),
        ("Ray, 1 worker", ["--workers", "1"]),
        ("Ray, 2 workers", ["--workers", "2"]),
    ):
        store = folder / f"{label.replace(' ', '_').replace(',', '')}.sqlite"
        before = load()
        wall, cpu, code = timed(unlearnkit("run", str(config), "--store", str(store), "--quiet", *extra))
        rows.append((label, wall, cpu, code, before, load()))
        print(f"| {label} | {wall:.1f} | {cpu:.1f} | {code} | {before} | {load()} |", flush=True)
    one, two = rows[1][1], rows[2][1]
    print(f"- speed-up 2 workers / 1 worker: {one / two:.2f}x; parallel efficiency {one / (2 * two):.2f} (goal >= 0.8)")


# -- kill and resume --------------------------------------------------------------------------


def resume(folder: Path) -> None:
    config = folder / "sweep.toml"
    config.write_text(SWEEP)
    runs = 8 * 3
    whole = timed(unlearnkit("run", str(config), "--store", str(folder / "whole.sqlite"), "--quiet", "--cpus-per-unit", "1"))
    fault = {"UNLEARNKIT_FAULT": f"written@run:kill:{runs // 2}:{folder / 'faults'}"}
    store = str(folder / "killed.sqlite")
    killed = timed(unlearnkit("run", str(config), "--store", store, "--quiet", "--cpus-per-unit", "1"), fault)
    resumed = timed(unlearnkit("run", str(config), "--store", store, "--quiet", "--cpus-per-unit", "1"))
    print(f"- uninterrupted: {whole[0]:.1f} s wall, {whole[1]:.1f} s CPU (exit {whole[2]})")
    print(f"- killed after run {runs // 2} of {runs}: {killed[0]:.1f} s wall, {killed[1]:.1f} s CPU (exit {killed[2]})")
    print(f"- re-run: {resumed[0]:.1f} s wall, {resumed[1]:.1f} s CPU (exit {resumed[2]})")
    extra_wall, extra_cpu = killed[0] + resumed[0] - whole[0], killed[1] + resumed[1] - whole[1]
    print(
        f"- kill-and-resume adds {extra_wall:.1f} s wall ({100 * extra_wall / whole[0]:+.0f} %), {extra_cpu:.1f} s CPU "
        f"({100 * extra_cpu / whole[1]:+.0f} %); load {load()}"
    )


# -- peak memory -------------------------------------------------------------------------------


def first_seed_only(text: str) -> str:
    return re.sub(r"^seeds = \[[^\]]*\]", lambda m: f"seeds = [{m.group(0).split('[')[1].split(',')[0].rstrip(']')}]", text, flags=re.M)


def memory(folder: Path, configs: list[Path]) -> None:
    print("| config | experiments | peak RSS (MiB) | wall (s) | exit | load before |")
    print("|---|---|---|---|---|---|")
    for path in configs:
        reduced = folder / path.name
        text = first_seed_only(path.read_text())
        if "population_metrics" in text:  # population metrics need two seeds
            text = re.sub(r"^seeds = \[(\d+)\]", lambda m: f"seeds = [{m.group(1)}, {int(m.group(1)) + 1}]", text, flags=re.M)
        reduced.write_text(text)
        experiments = len(tomllib.loads(text)["experiment"])
        before = load()
        start = time.perf_counter()
        process = subprocess.run(
            [
                "/usr/bin/time",
                "-v",
                *unlearnkit("run", str(reduced), "--store", str(folder / f"{path.stem}.sqlite"), "--quiet", "--cpus-per-unit", "1"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", process.stderr)
        mib = int(peak.group(1)) / 1024 if peak else float("nan")
        print(f"| {path.name} | {experiments} | {mib:.0f} | {wall:.0f} | {process.returncode} | {before} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["loop", "parallel", "resume", "memory"])
    parser.add_argument("configs", nargs="*", type=Path, help="memory: configs to measure (default: every benchmarks/*.toml)")
    parser.add_argument("--repetitions", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unlearnkit-overheads-") as temporary:
        folder = Path(temporary)
        if args.part == "loop":
            loop_overhead(args.repetitions)
        elif args.part == "parallel":
            print("| executor | wall (s) | CPU (s) | exit | load before | load after |\n|---|---|---|---|---|---|")
            parallel(folder)
        elif args.part == "resume":
            resume(folder)
        else:
            memory(folder, args.configs or sorted((ROOT / "benchmarks").glob("*.toml")))


if __name__ == "__main__":
    main()
