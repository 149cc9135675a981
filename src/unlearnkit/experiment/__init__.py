"""Experiment orchestration: configuration files, the one runner for every kind, tuning and scale-out."""

from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import Plan, Runner, RunSummary

__all__ = ["Plan", "RunSummary", "Runner", "load_config"]
