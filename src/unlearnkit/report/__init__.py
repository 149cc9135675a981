"""Report stage: tables and figures built from stored results."""
