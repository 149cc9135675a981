"""Report stage: tables (markdown, JSON), figures and an HTML page built from stored results."""

from unlearnkit.report.markdown import to_markdown
from unlearnkit.report.tables import ExperimentTable, MethodRow, summarise, to_records

__all__ = ["ExperimentTable", "MethodRow", "summarise", "to_markdown", "to_records"]
