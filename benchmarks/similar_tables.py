"""The similar-samples tables of a store: per-k curves against both oracles, the remedy, population metrics against A(D∖S).

``unlearnkit report --format md`` prints the per-method tables and the
population metrics against the experiment's reference (A(D∖N(S)) under
goal "unlearning"); the per-target curves over k (``report.similar``) are
drawn only in the HTML report. This script prints them as Markdown for each
experiment of the store that has similar samples, followed by the population
metrics against A(D∖S), and with ``--json`` writes the same figures
(``report.similar.record``) next to them.

    PYTHONPATH=src python benchmarks/similar_tables.py .unlearnkit/similar_images.sqlite [--json out.json]
"""

from __future__ import annotations

import argparse
import json

from unlearnkit.report.markdown import population_markdown
from unlearnkit.report.population import population_against_retrain
from unlearnkit.report.similar import record, similar_markdown, similar_section
from unlearnkit.store import StoreReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="SQLite store written by unlearnkit run")
    parser.add_argument("--json", help="also write the sections' figures to this JSON file")
    args = parser.parse_args()
    store = StoreReader(args.store)
    runs = store.current_runs()
    references = set(store.references())
    records = []
    for experiment in dict.fromkeys(r.experiment for r in runs):
        mine = [r for r in runs if r.experiment == experiment]
        section = similar_section(store, experiment, mine[0].goal, mine, references)
        if section is None:
            continue
        print(similar_markdown(section))
        against = population_against_retrain(store, mine)
        if against is not None:
            print(population_markdown(against))
        records.append(record(section))
    if not records:
        raise SystemExit(f"{args.store}: no experiment with similar samples")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main()
