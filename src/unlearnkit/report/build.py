"""Everything a report shows, read from a store once: tables, references, population metrics and deletion requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearnkit.errors import UnlearnkitError
from unlearnkit.report.population import PopulationTable, population_tables
from unlearnkit.report.requests import RequestChain, request_chains
from unlearnkit.report.similar import SimilarSection, similar_section
from unlearnkit.report.tables import ExperimentTable, summarise
from unlearnkit.store import FailureRecord, ReferenceRecord, RunRecord, StoreReader


@dataclass(frozen=True)
class Report:
    tables: list[ExperimentTable]
    population: list[PopulationTable]
    runs: list[RunRecord]
    references: dict[str, ReferenceRecord]
    # Units of work that failed in the last `run` of each experiment shown (an experiment may have only these).
    failures: list[FailureRecord] = field(default_factory=list)
    # Chains of deletion requests answered by `unlearnkit forget` (none in a store without audit rows).
    requests: list[RequestChain] = field(default_factory=list)
    # experiment -> its similar-samples section (experiments with a `similar` table only).
    similar: dict[str, SimilarSection] = field(default_factory=dict)


def load_report(store: StoreReader, experiments: list[str] | None = None) -> Report:
    """The report of every experiment in ``store`` (or of ``experiments`` only; unknown names are an error).

    Deletion requests belong to no experiment: they are in the report of the whole store, not in one of chosen experiments.
    """
    runs = store.current_runs()
    failures = store.failures("run")
    if experiments:
        present = list(dict.fromkeys([r.experiment for r in runs] + [f.experiment for f in failures]))
        unknown = sorted(set(experiments) - set(present))
        if unknown:
            raise UnlearnkitError(f"experiments {unknown} are not in the store; it has {present}")
        runs = [r for r in runs if r.experiment in experiments]
        failures = [f for f in failures if f.experiment in experiments]
    references = store.references()
    chains = [] if experiments else request_chains(store)
    tables = summarise(runs, references)
    similar = {}
    for table in tables:
        experiment_runs = [r for r in runs if r.experiment == table.experiment]
        section = similar_section(store, table.experiment, table.goal, experiment_runs, set(references))
        if section is not None:
            similar[table.experiment] = section
    return Report(tables, population_tables(store, runs), runs, references, failures, chains, similar)
