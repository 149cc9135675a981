#!/usr/bin/env bash
# One transfer benchmark end to end: choose recipes on the tuning case (against a retrained model, then
# without one), write the evaluation config, run it, summarise. Usage:
#   bash benchmarks/transfer/run.sh BENCH [STORE_DIR]      (BENCH: person_orl, photos_orl, fmnist_class, fmnist_random_10k)
# Every unit runs with one PyTorch thread (--cpus-per-unit 1) so that two benchmarks can share two cores.
set -euo pipefail

# The body is one function, read whole before it runs: editing this file during a run cannot change the run.
main() {
    local bench="$1"
    local dir="${2:-.unlearnkit/transfer}"
    local here="$(cd "$(dirname "$0")" && pwd)"
    mkdir -p "$dir"
    python "$here/build.py" tune "$bench"
    # Each trial's score goes to the tune logs (stderr), which criteria_agreement.py reads.
    python -m unlearnkit tune "$here/$bench.tune.toml" --budget 8 --store "$dir/$bench.sqlite" --cpus-per-unit 1 \
        --output "$here/recipes/$bench.oracle.toml" 2> "$dir/$bench.oracle.log"
    python -m unlearnkit tune "$here/$bench.tune.toml" --budget 8 --store "$dir/$bench.sqlite" --cpus-per-unit 1 \
        --oracle-free --output "$here/recipes/$bench.oracle_free.toml" 2> "$dir/$bench.oracle_free.log"
    python "$here/build.py" eval "$bench"
    python -m unlearnkit run "$here/$bench.toml" --store "$dir/$bench.sqlite" --cpus-per-unit 1
    python "$here/summarize.py" "$dir/$bench.sqlite" "$bench"
    python "$here/criteria_agreement.py" "$dir/$bench.oracle.log" "$dir/$bench.oracle_free.log"
    python "$here/score_check.py" "$dir/$bench.sqlite" "$bench"
}

main "$@"
exit
