"""Report stage: tables (markdown, JSON), population metrics, figures and an HTML page built from stored results."""

from unlearnkit.report.build import Report, load_report
from unlearnkit.report.markdown import to_markdown
from unlearnkit.report.population import PopulationTable, population_tables
from unlearnkit.report.tables import ExperimentTable, MethodRow, summarise, to_records

__all__ = [
    "ExperimentTable",
    "MethodRow",
    "PopulationTable",
    "Report",
    "load_report",
    "population_tables",
    "summarise",
    "to_markdown",
    "to_records",
]
